import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  analyzeFaces,
  INSPECT_SMALL_FACE_INPUT,
  inspectFaces,
  zoomOut,
} from '../../../../src/post/faces/analysis.ts';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { gradient, noise, type Rgb8, samplePhoto } from './images.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-faceanalysis-test-'));
let detector: FaceDetector;
let small: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir });
  small = await createFaceDetector({ cacheDir, inputSize: INSPECT_SMALL_FACE_INPUT });
});
after(async () => {
  await detector.dispose();
  await small.dispose();
});
const inspect = (img: Rgb8) => inspectFaces(detector, img, { small });

test('thresholds: count above minScore, selfie by face area, longshot by face height, clipped to the frame', () => {
  const frame = { width: 1000, height: 1000 };
  const face = (x: number, y: number, s: number, score = 0.9) => ({ box: { x, y, w: s, h: s }, score });
  assert.deepEqual(analyzeFaces([], frame), {
    face_count: 0,
    includes_multiple_people: false,
    selfie: false,
    full_body_image_or_longshot: false,
    largest_face_area_fraction: 0,
    largest_face_height_fraction: 0,
  });
  // 300² = 9 % of the frame: selfie; 0.3 of the height: not a long shot.
  const close = analyzeFaces([face(350, 300, 300)], frame);
  assert.equal(close.selfie, true);
  assert.equal(close.full_body_image_or_longshot, false);
  // 250² = 6.25 %: not a selfie.
  assert.equal(analyzeFaces([face(350, 300, 250)], frame).selfie, false);
  // 100 px = 10 % of the height: long shot; 130 px = 13 %: not.
  assert.equal(analyzeFaces([face(10, 10, 100)], frame).full_body_image_or_longshot, true);
  assert.equal(analyzeFaces([face(10, 10, 130)], frame).full_body_image_or_longshot, false);
  // Two faces, one under the score threshold.
  const two = analyzeFaces([face(0, 0, 100), face(500, 0, 100, 0.4)], frame);
  assert.equal(two.face_count, 1);
  assert.equal(two.includes_multiple_people, false);
  assert.equal(analyzeFaces([face(0, 0, 100), face(500, 0, 100, 0.6)], frame).includes_multiple_people, true);
  // A 400² box half outside the frame counts as 200×400 = 8 % (selfie), height 40 %.
  const edge = analyzeFaces([face(-200, 300, 400)], frame);
  assert.equal(edge.largest_face_area_fraction, 0.08);
  assert.equal(edge.selfie, true);
});

test('real photos: a group photo, a head-and-shoulders crop, the group small in a large frame, no face', async () => {
  // sample5: five people on stairs (face boxes ≈ 3–4 % of the frame each).
  const group = await inspect(await samplePhoto(5, 960));
  assert.equal(group.face_count, 5);
  assert.equal(group.includes_multiple_people, true);
  assert.equal(group.selfie, false);
  assert.equal(group.full_body_image_or_longshot, false);

  // A crop of sample1 around one person's head and shoulders: one face, large in the frame.
  const headImg = await samplePhoto(1, 480, { left: 1200, top: 0, width: 720, height: 720 });
  // The plain 416 pass misses this face (it fills ~40 % of the frame); the zoomed-out pass finds it.
  assert.equal((await detector.detect(headImg)).length, 0);
  const head = await inspect(headImg);
  assert.equal(head.face_count, 1);
  assert.equal(head.includes_multiple_people, false);
  assert.equal(head.selfie, true, `area fraction ${head.largest_face_area_fraction}`);
  assert.equal(head.full_body_image_or_longshot, false);

  // Synthetic long shot: sample4 (four people, mostly full length) scaled to 600 px wide and pasted into a
  // 1200×1200 grey frame, so the faces are ~8 % of the frame height. It shows the threshold logic on real
  // detections, not that a real long shot would be recognised (very small faces are missed, see docs/faces.md).
  const small = await samplePhoto(4, 600);
  const W = 1200;
  const frame: Rgb8 = { data: new Uint8Array(W * W * 3).fill(120), width: W, height: W, channels: 3 };
  for (let y = 0; y < small.height; y++)
    frame.data.set(small.data.subarray(y * 600 * 3, (y + 1) * 600 * 3), ((y + 500) * W + 300) * 3);
  assert.equal((await detector.detect(frame)).length, 0, 'input 416 alone sees none of these faces');
  const far = await inspect(frame);
  assert.ok(far.face_count >= 3, `faces: ${far.face_count} of 4`);
  assert.equal(far.full_body_image_or_longshot, true, `height fraction ${far.largest_face_height_fraction}`);
  assert.equal(far.selfie, false);

  for (const img of [noise(400, 300, 9), gradient(300, 400)]) {
    const none = await inspect(img);
    assert.equal(none.face_count, 0);
    assert.equal(none.selfie || none.includes_multiple_people || none.full_body_image_or_longshot, false);
  }
});

test('zoomOut centres the image in a mean-colour canvas', () => {
  const img: Rgb8 = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), width: 2, height: 1, channels: 3 };
  const z = zoomOut(img, 2);
  assert.deepEqual([z.image.width, z.image.height, z.dx, z.dy], [4, 2, 1, 0]);
  assert.deepEqual([...z.image.data.subarray(0, 12)], [117, 115, 97, 1, 2, 3, 4, 5, 6, 117, 115, 97]);
});
