// face_crop with the face detector: detectFaceBoxes keeps the largest face of each image in EXIF-oriented pixels
// (null where none), prepareImage crops around it; the LoRA trainer declares face_crop so the tune is not a 422.
// Most checks use a scripted detector (a test double, named so); one runs the installed detector on a real photo.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { trainerGaps } from '../../../src/domain/ports.ts';
import {
  type DetectFaces,
  detectFaceBoxes,
  installedFaceDetector,
  prepareImage,
} from '../../../src/train/dataset.ts';
import { LoraTrainer } from '../../../src/train/lora-trainer.ts';
import { samplePhotoPath } from '../post/faces/images.ts';

const image = async (width: number, height: number, orientation?: number) => {
  let s = sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } }).jpeg();
  if (orientation) s = s.withMetadata({ orientation });
  const data = await s.toBuffer();
  return { data, format: 'jpeg', width, height };
};

/** Test double: answers the scripted detections for the n-th call. */
function scriptedDetectorDouble(perImage: { x: number; y: number; w: number; h: number }[][]): DetectFaces {
  let call = 0;
  return async () => (perImage[call++] ?? []).map((box) => ({ box, score: 0.9 }));
}

test('detectFaceBoxes: the largest face per image, clipped to the image; null without a face', async () => {
  const images = [await image(400, 300), await image(400, 300)];
  const boxes = await detectFaceBoxes(
    images,
    scriptedDetectorDouble([
      [
        { x: 10, y: 10, w: 40, h: 40 },
        { x: 350, y: 100, w: 100, h: 120 }, // the largest, partly outside: clipped to x < 400
      ],
      [],
    ]),
  );
  assert.deepEqual(boxes, [{ left: 350, top: 100, width: 50, height: 120 }, null]);
});

test('detectFaceBoxes clips in the EXIF-oriented frame (orientation 6 swaps the sides)', async () => {
  // Stored 400×300, shown 300×400: a box reaching y = 390 is inside the oriented frame only.
  const [box] = await detectFaceBoxes(
    [await image(400, 300, 6)],
    scriptedDetectorDouble([[{ x: 100, y: 300, w: 100, h: 90 }]]),
  );
  assert.deepEqual(box, { left: 100, top: 300, width: 100, height: 90 });
});

test('prepareImage crops around the face box with face_crop, attention without a box', async () => {
  const img = await image(800, 600);
  const opts = { resolution: 256, token: 'ohwx', name: 'man', faceCrop: true };
  const face = await prepareImage(img, 0, {
    ...opts,
    faceBoxes: [{ left: 500, top: 100, width: 80, height: 80 }],
  });
  assert.equal(face.crop, 'face');
  assert.deepEqual([face.width, face.height], [256, 256]);
  assert.equal((await prepareImage(img, 0, { ...opts, faceBoxes: [null] })).crop, 'attention');
});

test('the installed detector finds the face of a real photo for the crop', async () => {
  const data = await sharp(samplePhotoPath(5)).resize({ width: 960 }).jpeg().toBuffer();
  const img = { data, format: 'jpeg', width: 960, height: 0 };
  const [box] = await detectFaceBoxes([img], installedFaceDetector);
  assert.ok(box, 'a face was found');
  assert.ok(box.width > 20 && box.width < 480, `face width ${box.width}`);
  const prepared = await prepareImage(img, 0, {
    resolution: 256,
    token: 'ohwx',
    name: 'man',
    faceCrop: true,
    faceBoxes: [box],
  });
  assert.equal(prepared.crop, 'face');
});

test('the LoRA trainer declares face_crop: a face_crop tune has no capability gap', () => {
  const trainer = new LoraTrainer({ baseModel: { key: 'none', path: '/nowhere' }, workDir: '/nowhere' });
  assert.deepEqual(trainerGaps(trainer.capabilities(), { face_crop: true, steps: 300 }), []);
  assert.deepEqual(trainerGaps(trainer.capabilities(), { training_face_correct: true }), [
    'training_face_correct',
  ]);
});
