import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Tensor } from '../../../../src/engine/components.ts';
import { resizeArea, resizeBilinear } from '../../../../src/engine/preprocess/image-ops.ts';
import { qrControlImage } from '../../../../src/engine/preprocess/qr.ts';
import { tileControlImage } from '../../../../src/engine/preprocess/tile.ts';

function image(w: number, h: number, c: number, v: (x: number, y: number, ch: number) => number): Tensor {
  const data = new Float32Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) data[(y * w + x) * c + ch] = v(x, y, ch);
  return { data, dims: [1, h, w, c] };
}

const mean = (t: Tensor) => t.data.reduce((a, v) => a + v, 0) / t.data.length;

describe('tile', () => {
  it('removes detail finer than the factor: a 1-pixel checkerboard becomes flat grey', () => {
    const out = tileControlImage(image(16, 16, 3, (x, y) => (x + y) % 2));
    assert.deepEqual(out.dims, [1, 16, 16, 3]);
    for (const v of out.data) assert.ok(Math.abs(v - 0.5) < 1e-6);
  });

  it('keeps coarse structure and the mean; factor 1 is the identity', () => {
    const img = image(32, 16, 3, (x, _y, ch) => ((x < 16 ? 0.2 : 0.9) * (ch + 1)) / 3);
    const out = tileControlImage(img, { factor: 4 });
    assert.ok(Math.abs(mean(out) - mean(img)) < 1e-3);
    assert.ok(Math.abs(out.data[0] - img.data[0]) < 1e-6); // far from the step
    assert.deepEqual([...tileControlImage(img, { factor: 1 }).data], [...img.data]);
    assert.throws(() => tileControlImage(img, { factor: 0.5 }), /factor/);
  });

  it('area downscale averages, bilinear upscale of a constant is constant', () => {
    const small = resizeArea(
      image(4, 2, 1, (x) => x),
      2,
      1,
    );
    assert.deepEqual([...small.data], [0.5, 2.5]);
    const up = resizeBilinear(
      image(2, 2, 1, () => 0.25),
      7,
      5,
    );
    assert.deepEqual(up.dims, [1, 5, 7, 1]);
    for (const v of up.data) assert.equal(v, 0.25);
  });
});

describe('qr', () => {
  it('passes the image through, and widens grey to RGB', () => {
    const rgb = image(3, 2, 3, (x, y, c) => (x + y + c) / 10);
    assert.deepEqual([...qrControlImage(rgb).data], [...rgb.data]);
    const grey = qrControlImage(image(3, 2, 1, (x) => x / 2));
    assert.deepEqual(grey.dims, [1, 2, 3, 3]);
    assert.deepEqual([...grey.data.subarray(3, 6)], [0.5, 0.5, 0.5]);
  });
});
