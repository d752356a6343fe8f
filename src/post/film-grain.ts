import { assertImageShape, type PostStage, type RawImage, throwIfAborted } from './types.ts';

/**
 * Film grain: zero-mean, luminance-dependent, monochrome noise, fully determined by the prompt's seed.
 *
 *   out = clamp(v + σ(L) · g),  σ(L) = σmax · 4·L·(1 − L)
 *
 * for every colour channel value v of a pixel (alpha untouched), where L is the pixel's Rec. 709 luma of the
 * encoded values in 0–1 and g is the same unit-variance grain value for all channels of that pixel. σ peaks at
 * mid-grey (L = 0.5) and vanishes at black and white, as grain does in clipped shadows and highlights.
 * g is white Gaussian noise (Box–Muller from a counter-based hash, see `grainUniform`) smoothed with the
 * separable binomial kernel [1 2 1]/4 so a grain spans about two pixels, then divided by that kernel's
 * noise gain, Σw² = (6/16)² ⇒ std × 0.375, to return to unit variance.
 */
export const DEFAULT_GRAIN_SIGMA = 0.04;

const REC709 = [0.2126, 0.7152, 0.0722] as const;
const BINOMIAL_NOISE_STD = 0.375;

/** 32-bit integer finaliser ("lowbias32" constants from C. Wellons' hash-prospector search). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Counter-based generator (in the spirit of Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
 * the n-th value of stream `seed` is a pure function hash(seed, n), so any pixel's grain can be computed
 * independently of any other and of tiling or thread order. Returns a uniform in the open interval (0, 1).
 */
export function grainUniform(seed: number, counter: number): number {
  const k1 = mix32((seed >>> 0) ^ 0x9e3779b9);
  const k2 = mix32((seed >>> 0) ^ 0x85ebca6b);
  const h = mix32(mix32((counter + k1) >>> 0) ^ k2);
  return (h + 0.5) / 4294967296;
}

/** Unit-variance, spatially smoothed Gaussian grain field (width × height), a pure function of the seed. */
export function grainField(seed: number, width: number, height: number): Float32Array {
  const n = width * height;
  const white = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    // Box–Muller: two independent normals from two uniforms.
    const u1 = grainUniform(seed, i);
    const u2 = grainUniform(seed, i + 1);
    const r = Math.sqrt(-2 * Math.log(u1));
    white[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) white[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  // Separable [1 2 1]/4 with clamped edges: horizontal pass, then vertical pass.
  const tmp = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const l = white[row + Math.max(0, x - 1)];
      const r = white[row + Math.min(width - 1, x + 1)];
      tmp[row + x] = (l + 2 * white[row + x] + r) / 4;
    }
  }
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const up = Math.max(0, y - 1) * width;
    const down = Math.min(height - 1, y + 1) * width;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      out[row + x] = (tmp[up + x] + 2 * tmp[row + x] + tmp[down + x]) / 4 / BINOMIAL_NOISE_STD;
    }
  }
  return out;
}

/** σ(L) = σmax · 4L(1 − L): the grain's standard deviation (on the 0–1 scale) at luma L. */
export function grainSigma(luma: number, sigmaMax = DEFAULT_GRAIN_SIGMA): number {
  return sigmaMax * 4 * luma * (1 - luma);
}

export interface FilmGrainOptions {
  /** σmax, the grain's standard deviation at mid-grey on the 0–1 scale. */
  sigmaMax?: number;
}

/** Adds grain; keeps the input's sample type (8-bit in → 8-bit out, float in → float out). */
export function applyFilmGrain(img: RawImage, seed: number, opts: FilmGrainOptions = {}): RawImage {
  assertImageShape(img);
  const sigmaMax = opts.sigmaMax ?? DEFAULT_GRAIN_SIGMA;
  const { width, height, channels } = img;
  const colour = channels >= 3 ? 3 : 1;
  const grain = grainField(seed, width, height);
  const isByte = img.data instanceof Uint8Array;
  const scale = isByte ? 255 : 1;
  const src = img.data;
  const out = isByte ? new Uint8Array(src.length) : new Float32Array(src.length);
  for (let p = 0; p < width * height; p++) {
    const base = p * channels;
    const luma =
      colour === 3
        ? (REC709[0] * src[base] + REC709[1] * src[base + 1] + REC709[2] * src[base + 2]) / scale
        : src[base] / scale;
    const delta = grainSigma(Math.min(1, Math.max(0, luma)), sigmaMax) * grain[p] * scale;
    for (let c = 0; c < channels; c++) {
      const v = c < colour ? src[base + c] + delta : src[base + c];
      out[base + c] = isByte ? Math.min(255, Math.max(0, Math.round(v))) : Math.min(1, Math.max(0, v));
    }
  }
  return { data: out, width, height, channels };
}

export function filmGrainStage(opts: FilmGrainOptions = {}): PostStage {
  return {
    name: 'film_grain',
    async run(img, ctx) {
      throwIfAborted(ctx.signal);
      ctx.onProgress?.(0, 1);
      const out = applyFilmGrain(img, ctx.seed, opts);
      ctx.onProgress?.(1, 1);
      return out;
    },
  };
}
