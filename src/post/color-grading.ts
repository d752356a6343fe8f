import sharp from 'sharp';
import { assertImageShape, type PostStage, type RawImage, throwIfAborted, toUint8Image } from './types.ts';

/**
 * Colour grading presets named by the Astria `color_grading` parameter.
 *
 * Each preset is three documented steps applied to sRGB-encoded 8-bit values (docs/post.md):
 *  1. a tone curve (the film's characteristic contrast: toe, shoulder, black lift), one 256-entry LUT built by
 *     monotone cubic interpolation through control points (Fritsch & Carlson 1980, SIAM J. Numer. Anal. 17(2));
 *     sharp exposes no LUT operation, so this step runs in TypeScript;
 *  2+3. one 3×3 matrix M = S(s) · diag(gR, gG, gB) applied with sharp's `recomb`: white-balance gains, then
 *     saturation about Rec. 709 luma, S(s) = (1 − s)·1·wᵀ + s·I with w = (0.2126, 0.7152, 0.0722).
 *     Rows of S sum to 1, so saturation alone leaves neutral greys unchanged.
 *
 * The numbers are looks characteristic of each stock as photographers describe them, not colorimetric
 * emulations of measured film data.
 */
export const COLOR_GRADING_PRESETS = ['Film Velvia', 'Film Portra', 'Ektar'] as const;
export type ColorGradingPreset = (typeof COLOR_GRADING_PRESETS)[number];

export interface ColorGrade {
  /** Tone curve control points (input, output) on 0–255, inputs strictly increasing, first 0 and last 255. */
  curve: ReadonlyArray<readonly [number, number]>;
  /** White-balance gains per channel (R, G, B). */
  whiteBalance: readonly [number, number, number];
  /** Saturation factor s (1 = unchanged). */
  saturation: number;
}

export const COLOR_GRADES: Record<ColorGradingPreset, ColorGrade> = {
  // Fujichrome Velvia 50: slide film known for very high saturation, deep blacks, strong contrast and a
  // cool, slightly magenta cast in neutrals.
  'Film Velvia': {
    curve: [
      [0, 0],
      [64, 48],
      [128, 128],
      [192, 210],
      [255, 255],
    ],
    whiteBalance: [1.0, 0.97, 1.03],
    saturation: 1.4,
  },
  // Kodak Portra 400: portrait negative film known for low contrast, lifted (milky) blacks, soft highlight
  // roll-off, muted saturation and warm skin tones.
  'Film Portra': {
    curve: [
      [0, 14],
      [64, 72],
      [128, 132],
      [192, 194],
      [255, 246],
    ],
    whiteBalance: [1.05, 1.01, 0.93],
    saturation: 0.85,
  },
  // Kodak Ektar 100: fine-grain negative film known for vivid, punchy colour (reds especially), moderate-high
  // contrast and a slightly warm balance.
  Ektar: {
    curve: [
      [0, 0],
      [64, 56],
      [128, 128],
      [192, 202],
      [255, 255],
    ],
    whiteBalance: [1.03, 1.0, 0.96],
    saturation: 1.25,
  },
};

const REC709 = [0.2126, 0.7152, 0.0722] as const;

export function isColorGradingPreset(name: unknown): name is ColorGradingPreset {
  return typeof name === 'string' && (COLOR_GRADING_PRESETS as readonly string[]).includes(name);
}

/** 256-entry LUT through the control points, monotone cubic (Fritsch–Carlson) so the curve never overshoots. */
export function buildToneLut(points: ColorGrade['curve']): Uint8Array {
  const n = points.length;
  if (n < 2 || points[0][0] !== 0 || points[n - 1][0] !== 255) {
    throw new RangeError('tone curve needs at least two points, starting at input 0 and ending at input 255');
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const secants: number[] = [];
  for (let i = 0; i < n - 1; i++) {
    if (!(xs[i + 1] > xs[i])) throw new RangeError('tone curve inputs must be strictly increasing');
    secants.push((ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]));
  }
  // Tangents: average of neighbouring secants, then limited so the Hermite segments stay monotone.
  const m = new Array<number>(n);
  m[0] = secants[0];
  m[n - 1] = secants[n - 2];
  for (let i = 1; i < n - 1; i++) {
    m[i] = secants[i - 1] * secants[i] <= 0 ? 0 : (secants[i - 1] + secants[i]) / 2;
  }
  for (let i = 0; i < n - 1; i++) {
    if (secants[i] === 0) {
      m[i] = m[i + 1] = 0;
      continue;
    }
    const a = m[i] / secants[i];
    const b = m[i + 1] / secants[i];
    const r = a * a + b * b;
    if (r > 9) {
      const t = 3 / Math.sqrt(r);
      m[i] = t * a * secants[i];
      m[i + 1] = t * b * secants[i];
    }
  }
  const lut = new Uint8Array(256);
  let seg = 0;
  for (let x = 0; x < 256; x++) {
    while (seg < n - 2 && x > xs[seg + 1]) seg++;
    const h = xs[seg + 1] - xs[seg];
    const t = (x - xs[seg]) / h;
    const t2 = t * t;
    const t3 = t2 * t;
    const y =
      (2 * t3 - 3 * t2 + 1) * ys[seg] +
      (t3 - 2 * t2 + t) * h * m[seg] +
      (-2 * t3 + 3 * t2) * ys[seg + 1] +
      (t3 - t2) * h * m[seg + 1];
    lut[x] = Math.min(255, Math.max(0, Math.round(y)));
  }
  return lut;
}

/** M = S(s) · diag(gains), row-major 3×3 as sharp's `recomb` takes it. */
export function gradeMatrix(grade: ColorGrade): number[][] {
  const s = grade.saturation;
  const rows: number[][] = [];
  for (let r = 0; r < 3; r++) {
    const row: number[] = [];
    for (let c = 0; c < 3; c++) {
      const sat = (1 - s) * REC709[c] + (r === c ? s : 0);
      row.push(sat * grade.whiteBalance[c]);
    }
    rows.push(row);
  }
  return rows;
}

/** Applies a preset to an RGB or RGBA image (alpha untouched). Returns an 8-bit image. */
export async function applyColorGrade(img: RawImage, preset: ColorGradingPreset): Promise<RawImage> {
  assertImageShape(img);
  if (img.channels !== 3 && img.channels !== 4) {
    throw new RangeError(`colour grading needs an RGB or RGBA image, got ${img.channels} channel(s)`);
  }
  const grade = COLOR_GRADES[preset];
  const src = toUint8Image(img).data;
  const lut = buildToneLut(grade.curve);
  const curved = new Uint8Array(src.length);
  const ch = img.channels;
  for (let i = 0; i < src.length; i++) curved[i] = i % ch < 3 ? lut[src[i]] : src[i];
  const { data, info } = await sharp(curved, { raw: { width: img.width, height: img.height, channels: ch } })
    .recomb(
      gradeMatrix(grade) as [[number, number, number], [number, number, number], [number, number, number]],
    )
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== ch || info.width !== img.width || info.height !== img.height) {
    throw new Error(`sharp recomb changed the image layout to ${info.width}x${info.height}x${info.channels}`);
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: img.width,
    height: img.height,
    channels: ch,
  };
}

export function colorGradingStage(preset: ColorGradingPreset): PostStage {
  return {
    name: 'color_grading',
    async run(img, ctx) {
      throwIfAborted(ctx.signal);
      ctx.onProgress?.(0, 1);
      const out = await applyColorGrade(img, preset);
      ctx.onProgress?.(1, 1);
      return out;
    },
  };
}
