/**
 * Shared shapes of the post-processing stages (see docs/post.md).
 *
 * Pixel convention: `Uint8Array` holds 0–255 values, `Float32Array` holds 0–1 values; both are
 * interleaved (HWC), row-major, `channels` values per pixel (1 = grey, 3 = RGB, 4 = RGBA).
 */
export interface RawImage {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export interface PostContext {
  /** The prompt's seed: stages with randomness (film grain, hires fix noise) derive everything from it. */
  seed: number;
  /** Checked between units of work (tiles, rows); an aborted signal rejects with its reason. */
  signal?: AbortSignal;
  /** Progress inside one stage, in the stage's own units (tiles, rows…). */
  onProgress?(done: number, total: number): void;
}

export interface PostStage {
  readonly name: string;
  run(img: RawImage, ctx: PostContext): Promise<RawImage>;
}

export function assertImageShape(img: RawImage): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(
      `image data has ${data.length} values, expected ${width}x${height}x${channels} = ${width * height * channels}`,
    );
  }
}

/** Converts to 8-bit, rounding and clamping float data (0–1). Returns the same object when already 8-bit. */
export function toUint8Image(img: RawImage): RawImage & { data: Uint8Array } {
  if (img.data instanceof Uint8Array) return img as RawImage & { data: Uint8Array };
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(src[i] * 255);
    out[i] = Math.min(255, Math.max(0, v));
  }
  return { ...img, data: out };
}

/** Converts to float 0–1. Returns the same object when already float. */
export function toFloatImage(img: RawImage): RawImage & { data: Float32Array } {
  if (img.data instanceof Float32Array) return img as RawImage & { data: Float32Array };
  const src = img.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] / 255;
  return { ...img, data: out };
}

/** Throws the signal's reason when it is aborted (a DOMException "AbortError" by default). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}
