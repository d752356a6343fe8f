import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { clipBox, faceCrop, faceSquare, largestFace } from '../../../../src/post/faces/crop.ts';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { gradient, noise, samplePhoto } from './images.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-facecrop-test-'));
let detector: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir });
});
after(async () => {
  await detector.dispose();
});

test('faceSquare: centred on the face, margin on each side, moved inside the image, never padded', () => {
  // A 100×80 face in the middle of 1000×800: side = 100·(1 + 2·0.5) = 200, centred.
  assert.deepEqual(faceSquare({ x: 450, y: 360, w: 100, h: 80 }, 1000, 800, 0.5), {
    x: 400,
    y: 300,
    w: 200,
    h: 200,
  });
  // Same face in the top-left corner: the square is shifted to start at 0, not shrunk.
  assert.deepEqual(faceSquare({ x: 0, y: 10, w: 100, h: 80 }, 1000, 800, 0.5), {
    x: 0,
    y: 0,
    w: 200,
    h: 200,
  });
  // Bottom-right corner.
  assert.deepEqual(faceSquare({ x: 950, y: 760, w: 50, h: 40 }, 1000, 800, 1), {
    x: 850,
    y: 650,
    w: 150,
    h: 150,
  });
  // The wanted square is larger than the image's short side: it becomes the short side.
  assert.deepEqual(faceSquare({ x: 100, y: 20, w: 200, h: 180 }, 600, 300, 1), {
    x: 50,
    y: 0,
    w: 300,
    h: 300,
  });
});

test('largestFace compares the parts inside the image; clipBox drops boxes outside', () => {
  const faces = [
    { box: { x: -250, y: 0, w: 300, h: 300 } }, // 50×300 inside = 15 000
    { box: { x: 500, y: 100, w: 120, h: 120 } }, // 14 400
  ];
  assert.deepEqual(largestFace(faces, 800, 600), { x: 0, y: 0, w: 50, h: 300 });
  assert.equal(clipBox({ x: 900, y: 0, w: 10, h: 10 }, 800, 600), null);
  assert.equal(largestFace([{ x: -20, y: -20, w: 10, h: 10 }], 800, 600), null);
});

test('face_crop on a real photo: square around the largest face, which the detector finds centred in the crop', async () => {
  const photo = await samplePhoto(5, 960); // five faces
  const dets = await detector.detect(photo);
  assert.equal(dets.length, 5);
  const largest = largestFace(dets, photo.width, photo.height);
  assert.ok(largest);
  const crop = await faceCrop(photo, dets, { margin: 0.6, size: 320 });
  assert.equal(crop.source, 'face');
  assert.deepEqual([crop.image.width, crop.image.height, crop.image.channels], [320, 320, 3]);
  const r = crop.region;
  assert.ok(r && r.w === r.h);
  assert.ok(r.x <= largest.x && r.y <= largest.y, 'the face is inside the crop');
  assert.ok(r.x + r.w >= largest.x + largest.w && r.y + r.h >= largest.y + largest.h);

  // The crop shows that face, centred, at about 1/(1 + 2·margin) of the side (the face box's larger side).
  const again = await detector.detect(crop.image);
  const main = largestFace(again, 320, 320);
  assert.ok(main, 'a face is detected in the crop');
  const cx = main.x + main.w / 2;
  const cy = main.y + main.h / 2;
  assert.ok(Math.abs(cx - 160) < 32 && Math.abs(cy - 160) < 32, `face centre ${cx},${cy}`);
  const fraction = Math.max(main.w, main.h) / 320;
  assert.ok(fraction > 0.3 && fraction < 0.55, `face spans ${fraction} of the crop (1/2.2 = 0.45 expected)`);
});

test('face_crop without a face: attention crop by default, centred square on request', async () => {
  // Noise with a bright warm square on the right: attention picks the region holding it.
  const img = noise(300, 100, 5);
  for (let i = 0; i < img.data.length; i += 3) img.data[i + 2] = 0;
  for (let i = 0; i < img.data.length; i++) img.data[i] >>= 3; // dark, low-saturation noise
  for (let y = 30; y < 70; y++)
    for (let x = 230; x < 270; x++) img.data.set([230, 160, 120], (y * 300 + x) * 3);
  assert.deepEqual(await detector.detect(img), []);

  const att = await faceCrop(img, [], { size: 50 });
  assert.equal(att.source, 'attention');
  assert.deepEqual([att.image.width, att.image.height], [50, 50]);
  assert.ok(
    att.region && att.region.x + att.region.w >= 270 && att.region.x <= 230,
    JSON.stringify(att.region),
  );

  const centre = await faceCrop(gradient(300, 100), [], { size: 64, fallback: 'centre' });
  assert.equal(centre.source, 'centre');
  assert.deepEqual(centre.region, { x: 100, y: 0, w: 100, h: 100 });
  assert.deepEqual([centre.image.width, centre.image.height], [64, 64]);
  // The centred square of a horizontal ramp: its left column is ≈ 100/299 of full red.
  assert.ok(Math.abs(centre.image.data[32 * 64 * 3] - (255 * 100) / 299) < 6);
});

test('face_crop keeps the channel count and takes float images', async () => {
  const rgba: RawImage = {
    data: new Float32Array(40 * 30 * 4).fill(0.5),
    width: 40,
    height: 30,
    channels: 4,
  };
  const out = await faceCrop(rgba, [{ x: 10, y: 10, w: 8, h: 8 }], { size: 16, margin: 0.5 });
  assert.deepEqual([out.image.width, out.image.height, out.image.channels], [16, 16, 4]);
  assert.deepEqual(out.region, { x: 6, y: 6, w: 16, h: 16 });
  assert.equal(out.image.data[0], 128);
  await assert.rejects(faceCrop(rgba, [], { size: 0 }), RangeError);
});
