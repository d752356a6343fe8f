import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ARCFACE_BOX_SHIFT,
  ARCFACE_TEMPLATE,
  arcfaceInput,
  arcfacePath,
  boxAlignment,
  faceAlignment,
  openFaceEmbedder,
  similarityTransform,
  warpAffine,
} from '../../../../src/post/faces/embedding.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { TINY_ARCFACE_DIM, tinyArcfaceReference, writeTinyArcface } from '../../../helpers/tiny-arcface.ts';
import { noise, samplePhoto } from './images.ts';

const apply = (m: number[], x: number, y: number) => [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];

test('similarityTransform recovers a rotation + scale + shift exactly and maps landmarks onto the template', () => {
  const th = 0.3;
  const s = 1.7;
  const truth = [s * Math.cos(th), -s * Math.sin(th), 12, s * Math.sin(th), s * Math.cos(th), -5];
  const src = [
    [10, 20],
    [40, 22],
    [25, 40],
    [12, 60],
    [38, 61],
  ] as const;
  const dst = src.map(([x, y]) => apply(truth, x, y) as [number, number]);
  const m = similarityTransform(src, dst);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(m[i] - truth[i]) < 1e-9, `m[${i}]`);
  // landmarks that are the template scaled ×2 and shifted: the alignment undoes it
  const face = {
    box: { x: 0, y: 0, w: 1, h: 1 },
    score: 1,
    landmarks: ARCFACE_TEMPLATE.map(([x, y]) => ({ x: 2 * x + 30, y: 2 * y + 7 })),
  };
  const a = faceAlignment(face);
  ARCFACE_TEMPLATE.forEach(([x, y]) => {
    const [u, v] = apply(a, 2 * x + 30, 2 * y + 7);
    assert.ok(Math.abs(u - x) < 1e-9 && Math.abs(v - y) < 1e-9);
  });
  assert.throws(() => similarityTransform([[1, 1]], [[2, 2]]), /≥ 2/);
});

test('boxAlignment: the box centre lands ARCFACE_BOX_SHIFT·h below the crop centre, the box spans 1/1.4 of it', () => {
  const box = { x: 100, y: 50, w: 80, h: 100 };
  const m = boxAlignment(box);
  const [u, v] = apply(m, 140, 100);
  assert.ok(Math.abs(u - 56) < 1e-9);
  assert.ok(Math.abs(v - (56 + ARCFACE_BOX_SHIFT * 100 * m[0])) < 1e-9);
  assert.ok(Math.abs(m[0] * 100 - 112 / 1.4) < 1e-9);
});

test('warpAffine: identity copies, outside is black, grey images become 3 equal channels', () => {
  const img: RawImage = {
    data: Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => i),
    width: 4,
    height: 4,
    channels: 3,
  };
  const out = warpAffine(img, [1, 0, 0, 0, 1, 0], 4);
  assert.deepEqual([...out], [...img.data]);
  const shifted = warpAffine(img, [1, 0, 2, 0, 1, 0], 4); // source x -> crop x + 2
  assert.deepEqual([...shifted.slice(0, 6)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...shifted.slice(6, 9)], [0, 1, 2]);
  const grey: RawImage = { data: new Uint8Array([9, 9, 9, 9]), width: 2, height: 2, channels: 1 };
  assert.deepEqual([...warpAffine(grey, [1, 0, 0, 0, 1, 0], 2).slice(0, 3)], [9, 9, 9]);
  assert.throws(() => warpAffine(img, [0, 0, 0, 0, 0, 0], 4), /singular/);
});

test('openFaceEmbedder names the file and what to install when arcface.onnx is missing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-arcface-none-'));
  await assert.rejects(openFaceEmbedder(dir), (e: Error) => {
    assert.ok(e.message.includes(arcfacePath(dir)), e.message);
    assert.match(e.message, /w600k_r50\.onnx/);
    return true;
  });
});

test('embedding = the network on the aligned, (x-127.5)/127.5 crop, L2-normalised (tiny random ArcFace)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-arcface-'));
  writeTinyArcface(arcfacePath(dir));
  const img = noise(200, 160, 3);
  const face = { box: { x: 40, y: 30, w: 90, h: 100 }, score: 0.9 };
  const detector = { detect: async () => [{ box: { x: 150, y: 10, w: 20, h: 20 }, score: 0.99 }, face] };
  const emb = await openFaceEmbedder(dir, { detector });
  try {
    const got = await emb.embedLargest(img);
    assert.ok(got);
    assert.deepEqual(got.box, face.box);
    assert.equal(got.embedding.length, TINY_ARCFACE_DIM);
    const ref = tinyArcfaceReference(
      arcfaceInput(warpAffine(img, boxAlignment(face.box), 112), 112, false, true),
    );
    const norm = Math.hypot(...ref);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got.embedding[i] - ref[i] / norm));
    assert.ok(worst < 1e-5, `max |diff| ${worst}`);
    assert.ok(Math.abs(Math.hypot(...got.embedding) - 1) < 1e-5);
    const all = await emb.embedAll(img);
    assert.equal(all.length, 2);
    assert.deepEqual(all[0].embedding, got.embedding, 'largest first');
    const none = await openFaceEmbedder(dir, { detector: { detect: async () => [] } });
    assert.equal(await none.embedLargest(img), null);
    await none.dispose();
  } finally {
    await emb.dispose();
  }
});

test('with the real detector: a photo with a face embeds reproducibly, two different faces differ, noise has none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-arcface-real-'));
  writeTinyArcface(arcfacePath(dir));
  const emb = await openFaceEmbedder(dir);
  try {
    const photo = await samplePhoto(5, 900);
    const faces = await emb.embedAll(photo);
    assert.ok(faces.length >= 2, `faces found: ${faces.length}`);
    const again = await emb.embedLargest(photo);
    assert.deepEqual(again?.embedding, faces[0].embedding);
    let dot = 0;
    for (let i = 0; i < TINY_ARCFACE_DIM; i++) dot += faces[0].embedding[i] * faces[1].embedding[i];
    assert.ok(dot < 0.9999, `cosine ${dot}`);
    assert.equal(await emb.embedLargest(noise(256, 256, 11)), null);
  } finally {
    await emb.dispose();
  }
});
