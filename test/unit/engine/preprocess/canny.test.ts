import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cannyControlImage, cannyEdges } from '../../../../src/engine/preprocess/canny.ts';
import type { Plane } from '../../../../src/engine/preprocess/image-ops.ts';

const W = 40;
const H = 40;

function plane(value: (x: number, y: number) => number): Plane {
  const data = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = value(x, y);
  return { data, width: W, height: H };
}

const edgeCount = (e: Uint8Array) => e.reduce((a, v) => a + v, 0);

describe('canny', () => {
  it('finds one-pixel-wide edges around a dark square and nothing in flat areas', () => {
    const img = new Float32Array(W * H * 3).fill(1);
    for (let y = 12; y < 28; y++)
      for (let x = 12; x < 28; x++) img.fill(0, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const out = cannyControlImage({ data: img, dims: [1, H, W, 3] });
    assert.deepEqual(out.dims, [1, H, W, 3]);
    const edge = (x: number, y: number) => out.data[(y * W + x) * 3];
    for (let k = 0; k < out.data.length; k++) assert.ok(out.data[k] === 0 || out.data[k] === 1);
    let count = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        if (!edge(x, y)) continue;
        count++;
        // every edge pixel lies on the square's outline (within a pixel of the step)
        const nearX = (Math.abs(x - 11.5) <= 1 || Math.abs(x - 27.5) <= 1) && y >= 10 && y <= 29;
        const nearY = (Math.abs(y - 11.5) <= 1 || Math.abs(y - 27.5) <= 1) && x >= 10 && x <= 29;
        assert.ok(nearX || nearY, `stray edge at ${x},${y}`);
      }
    // the outline is closed enough: most of the 4 x 16 boundary positions are marked
    assert.ok(count >= 56, `only ${count} edge pixels`);
    // thin: the scan line through the middle crosses each vertical side exactly once
    const row = Array.from({ length: W }, (_, x) => edge(x, 20));
    assert.equal(
      row.reduce((a, v) => a + v, 0),
      2,
    );
    // RGB channels are identical
    for (let k = 0; k < W * H; k++)
      assert.ok(out.data[3 * k] === out.data[3 * k + 1] && out.data[3 * k] === out.data[3 * k + 2]);
  });

  it('a flat image has no edges', () => {
    assert.equal(edgeCount(cannyEdges(plane(() => 128))), 0);
  });

  it('edges below the high threshold appear only when the thresholds are lowered', () => {
    // a step of 35 levels: unsmoothed L1 Sobel magnitude 4 * 35 = 140, between low 100 and high 200
    const step = plane((x) => (x < 20 ? 35 : 0));
    assert.equal(edgeCount(cannyEdges(step, { sigma: 0 })), 0);
    const lowered = cannyEdges(step, { sigma: 0, low: 100, high: 130 });
    for (let y = 1; y < H - 1; y++) assert.equal(lowered[y * W + 19], 1, `row ${y}`);
    assert.equal(edgeCount(lowered), H - 2);
  });

  it('hysteresis keeps weak edge pixels connected to a strong edge', () => {
    // the same weak step, but its top rows are a strong step (100 levels -> magnitude 400)
    const e = cannyEdges(
      plane((x, y) => (x < 20 ? (y < 10 ? 100 : 35) : 0)),
      { sigma: 0 },
    );
    for (let y = 14; y < H - 1; y++) assert.equal(e[y * W + 19], 1, `weak row ${y} dropped`);
  });

  it('rejects inverted thresholds', () => {
    assert.throws(
      () =>
        cannyEdges(
          plane(() => 0),
          { low: 50, high: 10 },
        ),
      /low <= high/,
    );
  });
});
