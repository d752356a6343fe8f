import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The ESRGAN-family ×4 networks shipped as npm packages by UpscalerJS (MIT licence, © Kevin Scott): the RRDN/RDN
 * architectures of idealo's image-super-resolution (layer names and C/D/G/G0/T hyper-parameters as there), trained
 * on DIV2K according to the packages' metadata. `range` is the package's `inputRange`/`outputRange` (its
 * esrgan.js: "rrdn" models take 0–1, "rdn" models take 0–255).
 *
 * - thick:  RRDN, 10 RRDB × 3 RDB × (4 dense 3×3 convs + 3×3 fusion), G0 64, G 32, pixel shuffle: 7.26 M MAC per input pixel
 * - medium: RDN, residual dense blocks, nearest upsampling: 0.72 M MAC per input pixel
 * - slim:   RDN, the smallest: 0.25 M MAC per input pixel
 * (counts from `describeSrNetwork`; see docs/post.md).
 */
export const ESRGAN_VARIANTS = {
  thick: { pkg: '@upscalerjs/esrgan-thick', range: 1 },
  medium: { pkg: '@upscalerjs/esrgan-medium', range: 255 },
  slim: { pkg: '@upscalerjs/esrgan-slim', range: 255 },
} as const satisfies Record<string, { pkg: string; range: 1 | 255 }>;

export type EsrganVariant = keyof typeof ESRGAN_VARIANTS;

const require = createRequire(import.meta.url);

/** Root folder of an installed package (its exports map hides package.json, so walk up from the entry). */
function packageRoot(pkg: string): string {
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg
    ) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the root folder of ${pkg}`);
    dir = up;
  }
}

/** Path of the variant's ×4 `model.json`; a clear error when the package is not installed. */
export function esrganModelJson(variant: EsrganVariant): string {
  const { pkg } = ESRGAN_VARIANTS[variant];
  let root: string;
  try {
    root = packageRoot(pkg);
  } catch (e) {
    throw new Error(
      `super-resolution model ${variant} needs the npm package ${pkg}: ${(e as Error).message}`,
    );
  }
  const path = join(root, 'models', 'x4', 'model.json');
  if (!existsSync(path)) throw new Error(`${pkg} has no models/x4/model.json`);
  return path;
}
