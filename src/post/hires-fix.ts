import { runTiled } from './tiling.ts';
import type { PostStage, RawImage } from './types.ts';

/**
 * Hires fix: after ×4 super-resolution, re-add detail with a low-strength img2img pass of the same model and
 * prompt over the upscaled image. The diffusion model works at its native size (512 for SD 1.5), so the pass is
 * tiled with overlap and blended by `runTiled`; each tile's noise seed is derived from the prompt's seed and the
 * tile's position, so the result is reproducible.
 *
 * The img2img pipeline belongs to the engine: this stage only needs the small interface below, which the worker
 * provides when the engine can serve the prompt's model. Without one, `hires_fix` is rejected (see index.ts).
 */
export interface Img2ImgRequest {
  image: RawImage;
  /** Fraction of the noise schedule to re-run, 0–1 (the seed's `denoising_strength`). */
  strength: number;
  seed: number;
  signal?: AbortSignal;
  onStep?(done: number, total: number): void;
}

export interface Img2ImgRunner {
  /** Runs one img2img pass and returns an image of the same size (RGB). */
  img2img(req: Img2ImgRequest): Promise<RawImage>;
}

export interface HiresFixOptions {
  /** Default 0.3: low enough to keep the composition, high enough to sharpen texture. */
  strength?: number;
  /** Tile side in pixels (the model's native resolution; default 512). */
  tile?: number;
  /** Overlap in pixels (default 64). */
  overlap?: number;
}

/** Per-tile seed: the prompt's seed mixed with the tile's position (Knuth's multiplicative hash constant). */
export function tileSeed(seed: number, x: number, y: number): number {
  return (
    (Math.imul((seed >>> 0) ^ Math.imul(x + 1, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(y + 1, 0xc2b2ae35)) >>> 0
  );
}

export function hiresFixStage(runner: Img2ImgRunner, opts: HiresFixOptions = {}): PostStage {
  const strength = opts.strength ?? 0.3;
  if (!(strength > 0 && strength <= 1)) throw new RangeError(`hires fix strength must be in (0, 1]`);
  const tile = opts.tile ?? 512;
  const overlap = opts.overlap ?? 64;
  return {
    name: 'hires_fix',
    run(img, ctx) {
      return runTiled(
        img,
        { tile, overlap, scale: 1, outChannels: img.channels },
        (input, info) =>
          runner.img2img({
            image: input,
            strength,
            seed: tileSeed(ctx.seed, info.x, info.y),
            signal: ctx.signal,
          }),
        { signal: ctx.signal, onProgress: ctx.onProgress },
      );
    },
  };
}
