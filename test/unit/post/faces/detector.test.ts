import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { gradient, noise, type Rgb8, samplePhoto, samplePhotoPath } from './images.ts';
import { referenceDetect, referenceGrid } from './reference.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-faces-test-'));
let detector: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir });
});
after(async () => {
  await detector.dispose();
});

const INPUT = 416;
const THRESHOLD = 0.5;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** ONNX vs face-api on TF.js: raw grid within 2e-4 (logits; measured 5e-5), and the same detections after NMS. */
async function assertParity(name: string, img: Rgb8, log: (msg: string) => void): Promise<number> {
  const ours = await detector.rawGrid(img);
  const ref = await referenceGrid(img, INPUT);
  assert.equal(ours.gridSize, 13);
  const diff = maxAbsDiff(ours.grid, ref);
  assert.ok(diff < 2e-4, `${name}: raw grid differs from face-api by ${diff}`);
  log(`${name}: max |Δ| raw grid ${diff.toExponential(2)}`);

  const got = await detector.detect(img);
  const want = await referenceDetect(img, INPUT, THRESHOLD);
  assert.equal(got.length, want.length, `${name}: ${got.length} detections, face-api has ${want.length}`);
  got.forEach((d, i) => {
    const r = want[i];
    assert.ok(Math.abs(d.score - r.score) < 1e-4, `${name} #${i}: score ${d.score} vs ${r.score}`);
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      assert.ok(Math.abs(d.box[k] - r.box[k]) < 0.05, `${name} #${i}: box.${k} ${d.box[k]} vs ${r.box[k]}`);
    }
  });
  return got.length;
}

test('raw outputs and detections agree with face-api (TF.js CPU) on real photos, landscape and portrait', async (t) => {
  const log = (m: string) => t.diagnostic(m);
  // sample1: three faces; a portrait crop of it (padding goes on the right): one face; sample5: five faces.
  assert.equal(await assertParity('sample1 640w', await samplePhoto(1, 640), log), 3);
  assert.equal(
    await assertParity(
      'sample1 portrait crop',
      await samplePhoto(1, 360, { left: 1200, top: 0, width: 720, height: 1000 }),
      log,
    ),
    1,
  );
  assert.equal(await assertParity('sample5 800w', await samplePhoto(5, 800), log), 5);
});

test('raw outputs agree with face-api on noise (odd, non-square size) and there are no detections', async (t) => {
  assert.equal(await assertParity('noise 301x187', noise(301, 187, 7), (m) => t.diagnostic(m)), 0);
});

test('zero-face images give no detection: noise, gradients, flat grey', async () => {
  const flat: Rgb8 = { data: new Uint8Array(200 * 150 * 3).fill(128), width: 200, height: 150, channels: 3 };
  for (const [name, img] of [
    ['noise 512²', noise(512, 512, 3)],
    ['noise 640x360', noise(640, 360, 11)],
    ['gradient 640x480', gradient(640, 480)],
    ['gradient 97x300', gradient(97, 300)],
    ['flat grey', flat],
  ] as const) {
    const dets = await detector.detect(img);
    assert.equal(dets.length, 0, `${name}: ${JSON.stringify(dets)}`);
  }
});

test('detect accepts an encoded image (JPEG buffer) and float / grey RawImages', async () => {
  const fromJpeg = await detector.detect(readFileSync(samplePhotoPath(3)));
  assert.equal(fromJpeg.length, 3);
  for (const d of fromJpeg) {
    assert.ok(d.score > THRESHOLD && d.score <= 1);
    assert.ok(d.box.w > 200 && d.box.h > 200, 'faces in sample3 are ~300 px wide at 1920 px');
    assert.equal(d.landmarks, undefined);
  }

  const img = await samplePhoto(3, 480);
  const asFloat = { ...img, data: Float32Array.from(img.data, (v) => v / 255) };
  const a = await detector.detect(img);
  const b = await detector.detect(asFloat);
  assert.equal(a.length, b.length);
  for (const [i, d] of a.entries()) assert.ok(Math.abs(d.score - b[i].score) < 1e-4);

  const grey = new Uint8Array(img.width * img.height);
  const greyRgb = new Uint8Array(img.data.length);
  for (let p = 0; p < grey.length; p++) {
    grey[p] = Math.round(0.299 * img.data[p * 3] + 0.587 * img.data[p * 3 + 1] + 0.114 * img.data[p * 3 + 2]);
    greyRgb.fill(grey[p], p * 3, p * 3 + 3);
  }
  const g1 = await detector.detect({ data: grey, width: img.width, height: img.height, channels: 1 });
  const g3 = await detector.detect({ data: greyRgb, width: img.width, height: img.height, channels: 3 });
  assert.deepEqual(g1, g3);
});
