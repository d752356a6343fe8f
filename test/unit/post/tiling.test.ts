import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runTiled, tileStarts } from '../../../src/post/tiling.ts';
import type { RawImage } from '../../../src/post/types.ts';

function noise(w: number, h: number, c: RawImage['channels'] = 3): RawImage {
  const data = new Float32Array(w * h * c);
  let s = 1;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s >>> 8) / (1 << 24);
  }
  return { data, width: w, height: h, channels: c };
}

/** Nearest-neighbour ×s: a purely local op, so tiling must not change it at all. */
function nearest(img: RawImage, s: number): RawImage {
  const W = img.width * s;
  const H = img.height * s;
  const c = img.channels;
  const data = new Float32Array(W * H * c);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let k = 0; k < c; k++)
        data[(y * W + x) * c + k] = img.data[(Math.floor(y / s) * img.width + Math.floor(x / s)) * c + k];
  return { data, width: W, height: H, channels: c };
}

test('tile starts cover the axis with the requested overlap and end flush', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.integer({ min: 2, max: 64 }),
      fc.nat(),
      (len, tile, o) => {
        const overlap = o % tile;
        const starts = tileStarts(len, tile, overlap);
        assert.equal(starts[0], 0);
        const last = starts[starts.length - 1];
        assert.equal(Math.min(len, last + tile), len);
        for (let i = 1; i < starts.length; i++) {
          assert.ok(starts[i] > starts[i - 1]);
          assert.ok(starts[i - 1] + tile - starts[i] >= overlap, 'overlap at least as requested');
        }
      },
    ),
  );
  assert.throws(() => tileStarts(10, 8, 8), RangeError);
});

test('a local op gives exactly the untiled result, whatever the tile grid', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 3, max: 16 }),
      fc.integer({ min: 0, max: 15 }),
      fc.constantFrom(1, 2, 4),
      async (w, h, tile, o, scale) => {
        const img = noise(w, h);
        const out = await runTiled(
          img,
          { tile, overlap: Math.min(o, tile - 1), scale, output: 'float32' },
          async (t) => nearest(t, scale),
        );
        const ref = nearest(img, scale);
        assert.equal(out.width, w * scale);
        assert.equal(out.height, h * scale);
        // Sums are float64; only the final float32 store rounds.
        for (let i = 0; i < ref.data.length; i++) assert.ok(Math.abs(out.data[i] - ref.data[i]) < 1e-6);
      },
    ),
    { numRuns: 60 },
  );
});

/** The documented blend, computed naively over the whole image: Σ w·v / Σ w with linear ramps in overlaps. */
function naiveBlend(
  w: number,
  h: number,
  tile: number,
  overlap: number,
  value: (x: number, y: number) => number,
) {
  const xs = tileStarts(w, tile, overlap);
  const ys = tileStarts(h, tile, overlap);
  const len = (starts: number[], i: number, n: number) => Math.min(tile, n - starts[i]);
  const weight = (starts: number[], i: number, n: number, p: number) => {
    const s = starts[i];
    const e = s + len(starts, i, n);
    if (p < s || p >= e) return 0;
    let wt = 1;
    if (i > 0 && p < starts[i - 1] + len(starts, i - 1, n))
      wt = Math.min(wt, (p - s + 0.5) / (starts[i - 1] + len(starts, i - 1, n) - s));
    if (i < starts.length - 1 && p >= starts[i + 1]) wt = Math.min(wt, (e - p - 0.5) / (e - starts[i + 1]));
    return wt;
  };
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      let sw = 0;
      for (let j = 0; j < ys.length; j++)
        for (let i = 0; i < xs.length; i++) {
          const wt = weight(xs, i, w, x) * weight(ys, j, h, y);
          s += wt * value(xs[i], ys[j]);
          sw += wt;
        }
      out[y * w + x] = s / sw;
    }
  return out;
}

test('the streamed blend equals the naive whole-image blend for any grid (carried strips, triple overlaps)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 2, max: 16 }),
      fc.nat(),
      async (w, h, tile, o) => {
        const overlap = o % tile;
        const value = (x: number, y: number) => ((x * 31 + y * 17) % 97) / 97;
        const out = await runTiled(
          { data: new Float32Array(w * h), width: w, height: h, channels: 1 },
          { tile, overlap, scale: 1, output: 'float32' },
          async (t, info) => ({
            ...t,
            data: new Float32Array(t.width * t.height).fill(value(info.x, info.y)),
          }),
        );
        const ref = naiveBlend(w, h, tile, overlap, value);
        for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(out.data[i] - ref[i]) < 1e-5, `pixel ${i}`);
      },
    ),
    { numRuns: 150 },
  );
});

test('tiles that disagree are cross-faded over the overlap instead of meeting at a hard edge', async () => {
  // Each tile returns a flat value that differs by 0.2 between neighbours: the worst case for a seam.
  const w = 64;
  const overlap = 8;
  const out = await runTiled(
    { data: new Float32Array(w * 4), width: w, height: 4, channels: 1 },
    { tile: 24, overlap, scale: 1, output: 'float32' },
    async (t, info) => ({
      ...t,
      data: new Float32Array(t.width * t.height).fill(0.2 + 0.2 * (info.x > 0 ? 1 : 0)),
    }),
  );
  let maxStep = 0;
  for (let x = 1; x < w; x++) maxStep = Math.max(maxStep, Math.abs(out.data[x] - out.data[x - 1]));
  assert.ok(maxStep <= 0.2 / overlap + 1e-6, `largest step ${maxStep} must be spread over the overlap`);
});

test('8-bit output rounds and clamps; progress counts every tile; abort stops between tiles', async () => {
  const img = noise(30, 20);
  const seen: Array<[number, number]> = [];
  const out = await runTiled(
    img,
    { tile: 12, overlap: 4, scale: 1 },
    async (t) => ({ ...t, data: Float32Array.from(t.data, (v) => v * 2 - 0.5) }),
    { onProgress: (d, t) => seen.push([d, t]) },
  );
  assert.ok(out.data instanceof Uint8Array);
  for (let i = 0; i < out.data.length; i++) {
    const v = Math.min(1, Math.max(0, img.data[i] * 2 - 0.5));
    assert.ok(Math.abs(out.data[i] - v * 255) <= 0.51);
  }
  const total = tileStarts(30, 12, 4).length * tileStarts(20, 12, 4).length;
  assert.deepEqual(seen[0], [0, total]);
  assert.deepEqual(seen.at(-1), [total, total]);

  const ctrl = new AbortController();
  let calls = 0;
  await assert.rejects(
    runTiled(
      img,
      { tile: 8, overlap: 2, scale: 1 },
      async (t) => {
        if (++calls === 2) ctrl.abort();
        return t;
      },
      { signal: ctrl.signal },
    ),
    { name: 'AbortError' },
  );
  assert.equal(calls, 2);
});

test('a tile op returning the wrong size is an error, not a corrupt image', async () => {
  await assert.rejects(
    runTiled(noise(10, 10), { tile: 8, overlap: 2, scale: 2 }, async (t) => t),
    /expected 16x16x3/,
  );
});
