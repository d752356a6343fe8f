import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OrtSession } from '../../engine/ort.ts';
import type { PostStage, RawImage } from '../types.ts';
import type { FaceDetectorLike } from './inpaint.ts';
import { facesLargestFirst } from './inpaint.ts';
import { type FaceTemplate, redrawFaces, templateRegion } from './redraw.ts';

/**
 * `face_correct` with an operator-installed face-restoration network (docs/faces.md "face_correct"):
 * `<dataDir>/models/faces/restore.onnx`, GFPGAN v1.4 (Wang et al. 2021, arXiv:2101.04061) or CodeFormer
 * (Zhou et al. 2022, arXiv:2206.11253) exported to ONNX. Contract, as in the public exports of both
 * (e.g. `GFPGANv1.4.onnx`, `codeformer.onnx`): first input float32 [1,3,S,S] RGB scaled to [-1, 1]
 * ((x/255 − 0.5)/0.5), S = 512; one float32 output of the same shape and range. CodeFormer's exports have a
 * second input `weight`, the fidelity w (a float64 or float32 tensor of one value): it is fed `fidelity`.
 * `restore.json` beside it may override { size, range: "-1..1" | "0..1", fidelity, faceFraction, centreY }.
 *
 * The nets are trained on FFHQ-aligned faces (eyes at ~47 % and the mouth at ~72 % of the crop's height). The tiny
 * face detector gives no landmarks, so the crop is placed from the box (brows to chin ≈ 1.9 eye–mouth
 * distances, its centre ≈ 0.65 of that distance below the eyes): box side = 0.49 of the crop, box centre at
 * 0.63 of its height (FFHQ_TEMPLATE). No rotation: a tilted head is restored tilted, which both nets tolerate.
 */
export const RESTORE_MODEL = 'faces/restore.onnx';
export const RESTORE_CONFIG = 'faces/restore.json';

export const FFHQ_TEMPLATE: FaceTemplate = { faceFraction: 0.49, centreY: 0.63 };

export interface RestoreConfig {
  size: number;
  range: '-1..1' | '0..1';
  /** CodeFormer's w (0 = strongest restoration, 1 = closest to the input); default 0.5, its authors' default */
  fidelity: number;
  faceFraction: number;
  centreY: number;
}

export const DEFAULT_RESTORE_CONFIG: RestoreConfig = {
  size: 512,
  range: '-1..1',
  fidelity: 0.5,
  ...FFHQ_TEMPLATE,
};

export function restoreModelPath(modelsDir: string): string {
  return join(modelsDir, RESTORE_MODEL);
}

/** True when a restoration network is installed (does not open it). */
export function isFaceRestoreInstalled(modelsDir: string | undefined): boolean {
  return !!modelsDir && existsSync(restoreModelPath(modelsDir));
}

/** restore.json merged over the defaults; a precise error for anything out of range. */
export function readRestoreConfig(modelsDir: string): RestoreConfig {
  const path = join(modelsDir, RESTORE_CONFIG);
  if (!existsSync(path)) return { ...DEFAULT_RESTORE_CONFIG };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${path}: expected an object`);
  const c = { ...DEFAULT_RESTORE_CONFIG, ...(raw as Partial<RestoreConfig>) };
  const bad = (why: string) => new Error(`${path}: ${why}`);
  if (!Number.isInteger(c.size) || c.size < 16 || c.size > 2048) throw bad(`size must be an integer 16–2048`);
  if (c.range !== '-1..1' && c.range !== '0..1') throw bad('range must be "-1..1" or "0..1"');
  if (!(typeof c.fidelity === 'number' && c.fidelity >= 0 && c.fidelity <= 1))
    throw bad('fidelity must be in [0, 1]');
  if (!(typeof c.faceFraction === 'number' && c.faceFraction > 0 && c.faceFraction <= 1))
    throw bad('faceFraction must be in (0, 1]');
  if (!(typeof c.centreY === 'number' && c.centreY > 0 && c.centreY < 1))
    throw bad('centreY must be in (0, 1)');
  return c;
}

/** HWC 8-bit RGB → CHW float32 in `range`. */
export function toChw(img: RawImage & { data: Uint8Array }, range: RestoreConfig['range']): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) {
      const v = img.data[i * 3 + c] / 255;
      out[c * n + i] = range === '-1..1' ? v * 2 - 1 : v;
    }
  return out;
}

/** CHW float32 in `range` → HWC 8-bit RGB (clamped, rounded). */
export function fromChw(
  chw: Float32Array,
  width: number,
  height: number,
  range: RestoreConfig['range'],
): RawImage & { data: Uint8Array } {
  const n = width * height;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) {
      const v = range === '-1..1' ? (chw[c * n + i] + 1) / 2 : chw[c * n + i];
      data[i * 3 + c] = Math.min(255, Math.max(0, Math.round(v * 255)));
    }
  return { data, width, height, channels: 3 };
}

export interface FaceRestorer {
  readonly config: RestoreConfig;
  /** One aligned face, `config.size`² RGB, restored. */
  restore(face: RawImage & { data: Uint8Array }): Promise<RawImage & { data: Uint8Array }>;
  dispose(): Promise<void>;
}

/** Opens `<modelsDir>/faces/restore.onnx`, checking its inputs against the contract above. */
export async function openFaceRestorer(
  modelsDir: string,
  opts: { threads?: number } = {},
): Promise<FaceRestorer> {
  const path = restoreModelPath(modelsDir);
  if (!existsSync(path))
    throw new Error(`no face restoration network: install GFPGAN v1.4 or CodeFormer ONNX at ${path}`);
  const config = readRestoreConfig(modelsDir);
  // loaded here, not at the top: src/post/index.ts (imported by the API) must not load onnxruntime
  const { OrtSession } = await import('../../engine/ort.ts');
  const session = await OrtSession.create(path, { intraOpThreads: opts.threads });
  const inputs = session.inputInfo;
  const problem = (why: string) =>
    new Error(`${path}: ${why} (expected GFPGAN/CodeFormer ONNX, docs/faces.md)`);
  if (inputs.length < 1 || inputs.length > 2) {
    await session.dispose();
    throw problem(`has ${inputs.length} inputs`);
  }
  // the public exports name them `input` and `weight`; otherwise the first is the image
  const image = inputs.find((i) => i.name === 'input') ?? inputs[0];
  const weight = inputs.find((i) => i !== image);
  const fixed = image.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
  if (
    image.type !== 'float32' ||
    image.shape.length !== 4 ||
    (fixed[1] !== null && fixed[1] !== 3) ||
    (fixed[2] !== null && fixed[2] !== config.size) ||
    (fixed[3] !== null && fixed[3] !== config.size)
  ) {
    await session.dispose();
    throw problem(
      `input ${image.name} is ${image.type}[${image.shape.join(',')}], expected float32[1,3,${config.size},${config.size}] (restore.json size)`,
    );
  }
  if (weight && weight.type !== 'float64' && weight.type !== 'float32') {
    await session.dispose();
    throw problem(
      `second input ${weight.name} is ${weight.type}, expected CodeFormer's float fidelity weight`,
    );
  }
  const weightDims = weight ? weight.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [];
  const { size, range } = config;
  return {
    config,
    async restore(face) {
      if (face.width !== size || face.height !== size)
        throw new Error(`face crop must be ${size}², got ${face.width}x${face.height}`);
      const feeds: Parameters<OrtSession['run']>[0] = {
        [image.name]: { data: toChw(face, range), dims: [1, 3, size, size] },
      };
      if (weight)
        feeds[weight.name] = {
          data:
            weight.type === 'float64' ? Float64Array.of(config.fidelity) : Float32Array.of(config.fidelity),
          dims: weightDims,
        };
      const out = await session.run(feeds);
      const first = Object.values(out)[0];
      if (!first || first.data.length !== 3 * size * size)
        throw new Error(`${path}: output is [${first?.dims.join(',')}], expected [1,3,${size},${size}]`);
      return fromChw(first.data, size, size, range);
    },
    dispose: () => session.dispose(),
  };
}

export interface FaceCorrectOptions {
  /** At most this many faces (default 4), largest first. */
  maxFaces?: number;
  minScore?: number;
  /** Blend ramp, fraction of the crop's side (default 0.1: the aligned crop has a wide margin around the face). */
  feather?: number;
}

/** `face_correct` with a restoration network: every detected face restored and blended back (redraw.ts). */
export function faceRestoreStage(
  detector: FaceDetectorLike,
  restorer: Pick<FaceRestorer, 'config' | 'restore'>,
  opts: FaceCorrectOptions = {},
): PostStage {
  const { size, faceFraction, centreY } = restorer.config;
  return {
    name: 'face_correct',
    async run(img, ctx) {
      const faces = facesLargestFirst(await detector.detect(img), img.width, img.height, opts);
      const regions = faces.map((f) => templateRegion(f, { faceFraction, centreY }));
      return redrawFaces(img, regions, (crop) => restorer.restore(crop), {
        size,
        feather: opts.feather ?? 0.1,
        signal: ctx.signal,
        onProgress: ctx.onProgress,
      });
    },
  };
}

/** face_correct's img2img strength when no restoration network is installed (inpaint_faces uses 0.4). */
export const FACE_CORRECT_FALLBACK_STRENGTH = 0.3;
