import { assertImageShape, type RawImage, throwIfAborted } from './types.ts';

/**
 * Runs an image operation tile by tile and blends the results, so any image size works with bounded working
 * memory. Tiles overlap by `overlap` input pixels; inside an overlap band the two results are cross-faded with
 * linear ramps (the sample nearest a tile's cut edge, computed with the least context, gets the least weight),
 * and every output pixel is divided by its summed weight. Tiles are processed row by row, left to right, and each
 * output pixel is written as soon as no later tile touches it, so besides the input and output images only one
 * tile-sized window and a strip of overlap rows are held, in float64 so that sums over many overlapping tiles
 * stay exact to float32 precision (see the blend state below).
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
    const w = new Float64Array(end - start);
    for (let p = start; p < end; p++) w[p - start] = ramp(p, start, end, prevEnd, nextStart);
    return w;
  });

  // Blend state, all in output pixels. `win` holds partial sums (value·weight, and weight) for the current tile
  // row over a sliding window of columns [wc0, wc0 + winW) as wide as one tile; columns left behind by the window
  // are final except in the rows the next tile row will overlap, which move to a full-width strip `next`, carried
  // into the following row. Working memory: one tile² window plus two strips of overlap rows, whatever the height.
  const winW = Math.min(tile, img.width) * scale;
  const win = new Float64Array(Math.min(tile, img.height) * scale * winW * C);
  const winWt = new Float64Array(win.length / C);
  let carry = new Float64Array(0);
  let carryWt = new Float64Array(0);
  let carryRows = 0;

  const toOut = (o: number, v: number) => {
    if (out instanceof Uint8Array) out[o] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    else out[o] = Math.min(1, Math.max(0, v));
  };

  let done = 0;
  opts.onProgress?.(0, count);
  for (let j = 0; j < ys.length; j++) {
    const bandStart = ys[j] * scale;
    const bandEnd = (ys[j] + th(j)) * scale;
    const bandRows = bandEnd - bandStart;
    const prevEnd = j > 0 ? (ys[j - 1] + th(j - 1)) * scale : null;
    const nextStart = j < ys.length - 1 ? ys[j + 1] * scale : null;
    const keepFrom = nextStart ?? bandEnd;
    const nextRows = bandEnd - keepFrom;
    const next = new Float64Array(nextRows * outW * C);
    const nextWt = new Float64Array(nextRows * outW);
    win.fill(0);
    winWt.fill(0);
    let wc0 = 0;

    // The previous row's strip starts at this band's first row: add it to the window's columns [from, to).
    const loadCarry = (from: number, to: number) => {
      for (let r = 0; r < carryRows; r++)
        for (let c = from; c < to; c++) {
          const k = r * winW + (c - wc0);
          const q = r * outW + c;
          winWt[k] += carryWt[q];
          for (let ch = 0; ch < C; ch++) win[k * C + ch] += carry[q * C + ch];
        }
    };
    // Columns [from, to) are complete for this row: write them out, or hand the overlap rows to the next row.
    const retire = (from: number, to: number) => {
      for (let r = 0; r < bandRows; r++) {
        const row = bandStart + r;
        for (let c = from; c < to; c++) {
          const k = r * winW + (c - wc0);
          if (row < keepFrom) {
            const inv = 1 / winWt[k];
            for (let ch = 0; ch < C; ch++) toOut((row * outW + c) * C + ch, win[k * C + ch] * inv);
          } else {
            const q = (row - keepFrom) * outW + c;
            nextWt[q] = winWt[k];
            for (let ch = 0; ch < C; ch++) next[q * C + ch] = win[k * C + ch];
          }
        }
      }
    };
    loadCarry(0, Math.min(winW, outW));

    for (let i = 0; i < xs.length; i++) {
      throwIfAborted(opts.signal);
      const x0 = xs[i] * scale;
      if (x0 > wc0) {
        const d = x0 - wc0;
        retire(wc0, x0);
        for (let r = 0; r < bandRows; r++) {
          const row = r * winW;
          win.copyWithin(row * C, (row + d) * C, (row + winW) * C);
          win.fill(0, (row + winW - d) * C, (row + winW) * C);
          winWt.copyWithin(row, row + d, row + winW);
          winWt.fill(0, row + winW - d, row + winW);
        }
        const oldEnd = wc0 + winW;
        wc0 = x0;
        loadCarry(Math.min(oldEnd, outW), Math.min(wc0 + winW, outW));
      }
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
      for (let r = 0; r < rh; r++) {
        const wyr = ramp(bandStart + r, bandStart, bandEnd, prevEnd, nextStart);
        for (let cx = 0; cx < rw; cx++) {
          const w = wyr * colW[cx];
          const k = r * winW + cx;
          winWt[k] += w;
          const src = (r * rw + cx) * C;
          for (let ch = 0; ch < C; ch++) win[k * C + ch] += w * res.data[src + ch] * toUnit;
        }
      }
      done++;
      opts.onProgress?.(done, count);
    }
    retire(wc0, Math.min(wc0 + winW, outW));
    carry = next;
    carryWt = nextWt;
    carryRows = nextRows;
  }
  return { data: out, width: outW, height: outH, channels: C };
}
