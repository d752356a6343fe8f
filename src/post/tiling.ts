import { assertImageShape, type RawImage, throwIfAborted } from './types.ts';

/**
 * Runs an image operation tile by tile and blends the results, so any image size works with bounded working
 * memory. Tiles overlap by `overlap` input pixels; inside an overlap band the two results are cross-faded with
 * linear ramps (the sample nearest a tile's cut edge, computed with the least context, gets the least weight),
 * and every output pixel is divided by its summed weight. Tile rows are processed top to bottom and output rows
 * are written out as soon as no later tile touches them, so besides the output image itself only one band of
 * (tile × scale) rows is held in float.
 */
export interface TileSpec {
  /** Tile side in input pixels. */
  tile: number;
  /** Overlap between neighbouring tiles in input pixels, 0 ≤ overlap < tile. */
  overlap: number;
  /** Output pixels per input pixel along each axis (4 for ×4 super-resolution, 1 for same-size operations). */
  scale: number;
  /** Channels of the operation's output (defaults to the input's). */
  outChannels?: RawImage['channels'];
  /** Sample type of the assembled image (default 8-bit). */
  output?: 'uint8' | 'float32';
}

export interface TileInfo {
  x: number;
  y: number;
  index: number;
  count: number;
}

export type TileOp = (tile: RawImage, info: TileInfo) => Promise<RawImage>;

/** Start offsets along one axis: stride tile − overlap, the last tile flush with the end. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (!(tile > 0) || !(overlap >= 0) || overlap >= tile) {
    throw new RangeError(`need 0 ≤ overlap < tile, got tile ${tile}, overlap ${overlap}`);
  }
  if (length <= tile) return [0];
  const starts: number[] = [];
  const stride = tile - overlap;
  for (let s = 0; s + tile < length; s += stride) starts.push(s);
  starts.push(length - tile);
  return starts;
}

/** Feather weight of output position `pos` inside a tile spanning [start, end), given the neighbours' spans. */
function ramp(
  pos: number,
  start: number,
  end: number,
  prevEnd: number | null,
  nextStart: number | null,
): number {
  let w = 1;
  if (prevEnd !== null && pos < prevEnd) w = Math.min(w, (pos - start + 0.5) / (prevEnd - start));
  if (nextStart !== null && pos >= nextStart) w = Math.min(w, (end - pos - 0.5) / (end - nextStart));
  return w;
}

function cropTile(img: RawImage, x: number, y: number, w: number, h: number): RawImage {
  const c = img.channels;
  const data = img.data instanceof Float32Array ? new Float32Array(w * h * c) : new Uint8Array(w * h * c);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * img.width + x) * c;
    data.set(img.data.subarray(from, from + w * c), row * w * c);
  }
  return { data, width: w, height: h, channels: img.channels };
}

export interface TiledRunOptions {
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

export async function runTiled(
  img: RawImage,
  spec: TileSpec,
  op: TileOp,
  opts: TiledRunOptions = {},
): Promise<RawImage> {
  assertImageShape(img);
  const { tile, overlap, scale } = spec;
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`scale must be a positive integer`);
  const C = spec.outChannels ?? img.channels;
  const xs = tileStarts(img.width, tile, overlap);
  const ys = tileStarts(img.height, tile, overlap);
  const outW = img.width * scale;
  const outH = img.height * scale;
  const out = spec.output === 'float32' ? new Float32Array(outW * outH * C) : new Uint8Array(outW * outH * C);
  const count = xs.length * ys.length;
  const tw = (i: number) => Math.min(tile, img.width - xs[i]);
  const th = (j: number) => Math.min(tile, img.height - ys[j]);

  // Horizontal weights are the same for every tile row: precompute them per tile column.
  const wx = xs.map((x0, i) => {
    const start = x0 * scale;
    const end = (x0 + tw(i)) * scale;
    const prevEnd = i > 0 ? (xs[i - 1] + tw(i - 1)) * scale : null;
    const nextStart = i < xs.length - 1 ? xs[i + 1] * scale : null;
    const w = new Float32Array(end - start);
    for (let p = start; p < end; p++) w[p - start] = ramp(p, start, end, prevEnd, nextStart);
    return w;
  });

  let accStart = 0;
  let acc = new Float32Array(0);
  let wsum = new Float32Array(0);
  let done = 0;
  opts.onProgress?.(0, count);
  for (let j = 0; j < ys.length; j++) {
    const bandStart = ys[j] * scale;
    const bandEnd = (ys[j] + th(j)) * scale;
    const prevEnd = j > 0 ? (ys[j - 1] + th(j - 1)) * scale : null;
    const nextStart = j < ys.length - 1 ? ys[j + 1] * scale : null;
    // New band accumulator; carry over the rows the previous band left unfinished.
    const nextAcc = new Float32Array((bandEnd - bandStart) * outW * C);
    const nextW = new Float32Array((bandEnd - bandStart) * outW);
    const carryRows = Math.max(0, accStart + wsum.length / outW - bandStart);
    if (carryRows > 0) {
      const off = bandStart - accStart;
      nextAcc.set(acc.subarray(off * outW * C, (off + carryRows) * outW * C));
      nextW.set(wsum.subarray(off * outW, (off + carryRows) * outW));
    }
    acc = nextAcc;
    wsum = nextW;
    accStart = bandStart;

    for (let i = 0; i < xs.length; i++) {
      throwIfAborted(opts.signal);
      const input = cropTile(img, xs[i], ys[j], tw(i), th(j));
      const res = await op(input, { x: xs[i], y: ys[j], index: done, count });
      const rw = tw(i) * scale;
      const rh = th(j) * scale;
      if (res.width !== rw || res.height !== rh || res.channels !== C) {
        throw new Error(
          `tile op returned ${res.width}x${res.height}x${res.channels}, expected ${rw}x${rh}x${C}`,
        );
      }
      const toUnit = res.data instanceof Uint8Array ? 1 / 255 : 1;
      const colW = wx[i];
      const x0 = xs[i] * scale;
      for (let r = 0; r < rh; r++) {
        const wyr = ramp(bandStart + r, bandStart, bandEnd, prevEnd, nextStart);
        const accRow = r * outW;
        for (let cx = 0; cx < rw; cx++) {
          const w = wyr * colW[cx];
          const a = accRow + x0 + cx;
          wsum[a] += w;
          const src = (r * rw + cx) * C;
          for (let c = 0; c < C; c++) acc[a * C + c] += w * res.data[src + c] * toUnit;
        }
      }
      done++;
      opts.onProgress?.(done, count);
    }

    // Rows above the next band's start are final.
    const finalEnd = nextStart ?? outH;
    for (let row = bandStart; row < finalEnd; row++) {
      const r = row - bandStart;
      for (let x = 0; x < outW; x++) {
        const a = r * outW + x;
        const inv = 1 / wsum[a];
        for (let c = 0; c < C; c++) {
          const v = acc[a * C + c] * inv;
          const o = (row * outW + x) * C + c;
          if (out instanceof Uint8Array) out[o] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
          else out[o] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { data: out, width: outW, height: outH, channels: C };
}
