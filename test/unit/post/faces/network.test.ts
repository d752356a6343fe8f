import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeGrid, iou, nonMaxSuppression } from '../../../../src/post/faces/decode.ts';
import {
  readWeightsManifest,
  TINY_FACE_ANCHORS,
  tinyFaceManifestPath,
} from '../../../../src/post/faces/model.ts';
import { depthwiseToOnnx, tfSamePadding, tinyFaceGridSize } from '../../../../src/post/faces/network.ts';
import { letterboxForDetector } from '../../../../src/post/faces/preprocess.ts';

test('TF "same" pooling pads: nothing for even sizes, one after for odd, one after at stride 1', () => {
  assert.deepEqual(tfSamePadding(414, 2, 2), [0, 0, 207]);
  assert.deepEqual(tfSamePadding(207, 2, 2), [0, 1, 104]);
  assert.deepEqual(tfSamePadding(13, 2, 1), [0, 1, 13]);
  assert.deepEqual(tfSamePadding(10, 3, 1), [1, 1, 10]);
  assert.equal(tinyFaceGridSize(416), 13);
  assert.equal(tinyFaceGridSize(608), 19);
  assert.equal(tinyFaceGridSize(224), 7);
});

test('depthwise filter [kh, kw, C, 1] → [C, 1, kh, kw]', () => {
  // value = 100·y + 10·x + c
  const kh = 2;
  const kw = 3;
  const c = 4;
  const src = new Float32Array(kh * kw * c);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) for (let i = 0; i < c; i++) src[(y * kw + x) * c + i] = 100 * y + 10 * x + i;
  const out = depthwiseToOnnx(src, [kh, kw, c, 1]);
  for (let i = 0; i < c; i++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) assert.equal(out[(i * kh + y) * kw + x], 100 * y + 10 * x + i);
  assert.throws(() => depthwiseToOnnx(src, [kh, kw, 2, 2]), /multiplier/);
});

test('the shipped weights: uint8-dequantized, every tensor the graph needs, within its quantization range', () => {
  const { weights, identity } = readWeightsManifest(tinyFaceManifestPath());
  assert.match(identity, /^[0-9a-f]{64}$/);
  assert.deepEqual(weights.get('conv0/filters')?.shape, [3, 3, 3, 16]);
  assert.deepEqual(weights.get('conv5/pointwise_filter')?.shape, [1, 1, 256, 512]);
  assert.deepEqual(weights.get('conv8/filters')?.shape, [1, 1, 512, 25]);
  // conv0/bias: min −0.9211, scale 0.005263 → all values in [min, min + 255·scale] on the quantization grid.
  const b = weights.get('conv0/bias')?.data ?? new Float32Array();
  for (const v of b) {
    const q = (v + 0.9211046672334858) / 0.005263455241334205;
    assert.ok(q > -1e-3 && q < 255 + 1e-3 && Math.abs(q - Math.round(q)) < 1e-3, `${v} is not on the grid`);
  }
});

test('letterbox: image at the top-left, zeros elsewhere, TF legacy bilinear sampling', () => {
  // 4×2 image resized into an 8×8 input: the square is 4×4 (two zero rows at the bottom), scale 0.5 per pixel.
  const data = new Uint8Array(4 * 2 * 3);
  for (let p = 0; p < 8; p++) data.fill(p * 10, p * 3, p * 3 + 3);
  const { chw } = letterboxForDetector({ data, width: 4, height: 2, channels: 3 }, 8);
  const at = (y: number, x: number) => chw[y * 8 + x];
  assert.equal(at(0, 0), 0); // source (0, 0)
  assert.equal(at(0, 1), 5); // source x 0.5: between 0 and 10
  assert.equal(at(0, 7), 30); // source x 3.5: clamped ceil → 30
  assert.equal(at(1, 0), 20); // source y 0.5: between row 0 (0) and row 1 (40)
  assert.equal(at(3, 0), 20); // source y 1.5: between row 1 (40) and the zero padding
  assert.equal(at(5, 3), 0); // padding
});

test('decodeGrid follows the YOLOv2 formulas and corrects for the padded side', () => {
  const G = 13;
  const grid = new Float32Array(G * G * 25).fill(-20); // all scores σ(−20) ≈ 0
  // Cell (row 6, col 3), anchor 2: tx = ty = 0 (σ = 0.5), tw = th = 0 (anchor size), objectness logit 2.
  const o = ((6 * G + 3) * 5 + 2) * 5;
  grid.set([0, 0, 0, 0, 2], o);
  // A 200×100 image: rounded reshaped size 416×208, so y is stretched ×2 (its padded half is empty).
  const [c] = decodeGrid(grid, G, { width: 200, height: 100 }, 416, 0.5);
  const a = TINY_FACE_ANCHORS[2];
  assert.ok(Math.abs(c.score - 1 / (1 + Math.exp(-2))) < 1e-12);
  assert.ok(Math.abs(c.rel.w - a.w / G) < 1e-12);
  assert.ok(Math.abs(c.rel.h - (2 * a.h) / G) < 1e-12);
  assert.ok(Math.abs(c.rel.x + c.rel.w / 2 - 3.5 / G) < 1e-12);
  assert.ok(Math.abs(c.rel.y + c.rel.h / 2 - (2 * 6.5) / G) < 1e-12);
  assert.equal(decodeGrid(grid, G, { width: 200, height: 100 }, 416, 0.9).length, 0);
});

test('NMS keeps the best box, drops overlaps above the threshold, keeps separate ones', () => {
  const boxes = [
    { x: 0, y: 0, w: 10, h: 10 },
    { x: 1, y: 1, w: 10, h: 10 }, // IoU with #0 = 81 / 119 = 0.68
    { x: 50, y: 50, w: 10, h: 10 },
    { x: 6, y: 0, w: 10, h: 10 }, // IoU with #0 = 40 / 160 = 0.25
  ];
  assert.ok(Math.abs(iou(boxes[0], boxes[1]) - 81 / 119) < 1e-12);
  assert.deepEqual(nonMaxSuppression(boxes, [0.6, 0.9, 0.7, 0.5], 0.4), [1, 2, 3]);
  assert.deepEqual(nonMaxSuppression(boxes, [0.9, 0.6, 0.7, 0.5], 0.4), [0, 2, 3]);
  assert.deepEqual(nonMaxSuppression(boxes, [0.9, 0.6, 0.7, 0.5], 0.2), [0, 2]);
  // Equal scores: the later one wins (stable ascending sort, popped from the end), as in face-api.
  assert.deepEqual(nonMaxSuppression(boxes.slice(0, 2), [0.8, 0.8], 0.4), [1]);
});
