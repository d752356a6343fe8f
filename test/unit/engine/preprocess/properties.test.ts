// Properties of the preprocessors on random images (fast-check): what must hold whatever the picture.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Tensor } from '../../../../src/engine/components.ts';
import { annotatorMapToImage } from '../../../../src/engine/preprocess/annotator.ts';
import { cannyControlImage } from '../../../../src/engine/preprocess/canny.ts';
import { resizeArea } from '../../../../src/engine/preprocess/image-ops.ts';
import { tileControlImage } from '../../../../src/engine/preprocess/tile.ts';

const image = (maxSide = 20) =>
  fc
    .record({ w: fc.integer({ min: 2, max: maxSide }), h: fc.integer({ min: 2, max: maxSide }) })
    .chain(({ w, h }) =>
      fc
        .array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: w * h * 3, maxLength: w * h * 3 })
        .map((v): Tensor => ({ data: Float32Array.from(v), dims: [1, h, w, 3] })),
    );

const range = (t: Tensor) => [Math.min(...t.data), Math.max(...t.data)];

test('canny: a binary, grey (R = G = B) map of the same size, never marking the outer border', () => {
  fc.assert(
    fc.property(image(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), (img, a, b) => {
      const out = cannyControlImage(img, { low: Math.min(a, b), high: Math.max(a, b) });
      const [, h, w] = img.dims;
      assert.deepEqual(out.dims, img.dims);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const o = (y * w + x) * 3;
          const v = out.data[o];
          assert.ok(v === 0 || v === 1);
          assert.ok(out.data[o + 1] === v && out.data[o + 2] === v);
          if (x === 0 || y === 0 || x === w - 1 || y === h - 1) assert.equal(v, 0);
        }
    }),
    { numRuns: 60 },
  );
});

test('tile: every output value lies within the input range (area and bilinear are convex combinations)', () => {
  fc.assert(
    fc.property(image(), fc.integer({ min: 1, max: 6 }), (img, factor) => {
      const [lo, hi] = range(img);
      const out = tileControlImage(img, { factor });
      assert.deepEqual(out.dims, img.dims);
      for (const v of out.data) assert.ok(v >= lo - 1e-6 && v <= hi + 1e-6);
    }),
    { numRuns: 60 },
  );
});

test('area downscale by an integer factor keeps the mean', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      (f, w, h) => {
        const data = Float32Array.from({ length: w * f * h * f * 3 }, (_, i) => ((i * 7919) % 101) / 100);
        const img = { data, dims: [1, h * f, w * f, 3] };
        const small = resizeArea(img, w, h);
        const mean = (t: Tensor) => t.data.reduce((a, v) => a + v, 0) / t.data.length;
        assert.ok(Math.abs(mean(small) - mean(img)) < 1e-5);
      },
    ),
  );
});

test('annotator min-max: any non-constant map spans exactly [0, 1]', () => {
  fc.assert(
    fc.property(
      fc
        .array(fc.float({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 4, maxLength: 4 })
        .filter((v) => Math.max(...v) > Math.min(...v)),
      (v) => {
        const out = annotatorMapToImage({ data: Float32Array.from(v), dims: [1, 1, 2, 2] }, {}, 'minmax');
        assert.deepEqual(range(out), [0, 1]);
      },
    ),
  );
});
