// face_swap (src/post/faces/swap.ts) with tiny networks built here with the engine's GraphBuilder standing in for
// inswapper_128 and ArcFace: the swap net paints the face with a colour computed from its `source` input, so the
// output shows that the identity went through the emap (read from the file's last initializer) and was
// normalised as insightface does. Real photos give zero, one and several faces.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readLastInitializer } from '../../../../src/engine/graph/onnx-read.ts';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { facesLargestFirst } from '../../../../src/post/faces/inpaint.ts';
import { templateRegion } from '../../../../src/post/faces/redraw.ts';
import {
  faceSwapMissing,
  faceSwapStage,
  meanIdentity,
  openFaceSwapper,
  SWAP_TEMPLATE,
  swapLatent,
  swapModelPath,
} from '../../../../src/post/faces/swap.ts';
import { checkPostParams, PostStageUnavailableError, planPostStages } from '../../../../src/post/index.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { noise, type Rgb8, samplePhoto } from './images.ts';
import { installArcface, installSwap, shiftEmap, writeNet } from './tiny-nets.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-swap-test-'));
let detector: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir: join(root, 'cache') });
});
after(async () => {
  await detector.dispose();
  rmSync(root, { recursive: true, force: true });
});

const D = 512;

function identity(): Float32Array {
  const v = new Float32Array(D).fill(0.01);
  v[511] = 0.6;
  v[0] = -0.5;
  v[1] = 0.3;
  return meanIdentity([v]);
}

const px = (im: RawImage, x: number, y: number) => [
  ...im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3),
];

test('onnx-read: the last initializer of a file, as onnx.load(f).graph.initializer[-1]', () => {
  const dir = join(root, 'read');
  installSwap(dir);
  const t = readLastInitializer(swapModelPath(dir));
  assert.deepEqual(t.dims, [D, D]);
  assert.deepEqual(t.data, shiftEmap());
  writeFileSync(join(dir, 'junk.onnx'), Buffer.from([0x0a, 0x05, 0x01]));
  assert.throws(() => readLastInitializer(join(dir, 'junk.onnx')), /runs past|no graph/);
});

test('swapLatent = normalize(identity · emap); meanIdentity = normalize(mean of the normalised embeddings)', () => {
  const emap = { dims: [3, 2], data: Float32Array.from([1, 0, 0, 2, 3, 0]) };
  // [1, 1, 1] · emap = [4, 2] → /√20
  const l = swapLatent(Float32Array.from([1, 1, 1]), emap);
  assert.ok(Math.abs(l[0] - 4 / Math.sqrt(20)) < 1e-6 && Math.abs(l[1] - 2 / Math.sqrt(20)) < 1e-6);
  // each embedding is normalised before averaging: a long vector does not outweigh a short one
  const m = meanIdentity([Float32Array.from([10, 0]), Float32Array.from([0, 1])]);
  assert.ok(Math.abs(m[0] - Math.SQRT1_2) < 1e-6 && Math.abs(m[1] - Math.SQRT1_2) < 1e-6);
  assert.throws(() => meanIdentity([]), /no face was found/);
  assert.throws(() => swapLatent(Float32Array.from([1, 1]), emap), /emap is \[3,2\]/);
});

test('faceSwapMissing names exactly what to install: both networks, one, or none', () => {
  const dir = join(root, 'missing');
  const both = faceSwapMissing(dir) ?? '';
  assert.match(both, /inswapper_128.* at .*faces\/swap\.onnx, and .*ArcFace.* at .*faces\/arcface\.onnx/);
  installSwap(dir);
  const one = faceSwapMissing(dir) ?? '';
  assert.match(one, /arcface\.onnx/);
  assert.doesNotMatch(one, /swap\.onnx/);
  installArcface(dir);
  assert.equal(faceSwapMissing(dir), null);
  // the 422 of checkPostParams carries the message
  assert.throws(
    () =>
      checkPostParams(
        { seed: 1, face_swap: true },
        { superResolution: false, img2img: true, faces: true, faceSwapMissing: both },
      ),
    (e: unknown) => e instanceof PostStageUnavailableError && e.field === 'face_swap' && e.message === both,
  );
});

async function swapCheck(img: Rgb8, expectedFaces: number) {
  const dir = join(root, `stage-${expectedFaces}`);
  installSwap(dir);
  const swapper = await openFaceSwapper(dir);
  try {
    let calls = 0;
    const counted = {
      emap: swapper.emap,
      swap: (f: Rgb8, l: Float32Array) => {
        calls++;
        return swapper.swap(f, l);
      },
    };
    const id = identity();
    const stage = planPostStages(
      { seed: 1, face_swap: true },
      { faceDetector: detector, faceSwap: faceSwapStage(detector, counted, id, { maxFaces: 8 }) },
    );
    assert.deepEqual(
      stage.map((s) => s.name),
      ['face_swap'],
    );
    const progress: number[] = [];
    const out = await stage[0].run(img, { seed: 1, onProgress: (d) => progress.push(d) });
    const faces = facesLargestFirst(await detector.detect(img), img.width, img.height, { maxFaces: 8 });
    assert.equal(faces.length, expectedFaces);
    assert.equal(calls, expectedFaces);
    if (expectedFaces === 0) {
      assert.equal(out, img);
      return;
    }
    assert.equal(progress.at(-1), expectedFaces);
    // the colour the net paints: 0.5 + 0.5·latent[c], latent = normalize(id · emap) = id shifted by one
    const expected = [id[511], id[0], id[1]].map((v) => Math.round((0.5 + 0.5 * v) * 255));
    assert.deepEqual(
      [0, 1, 2].map((c) => Math.round((0.5 + 0.5 * swapLatent(id, swapper.emap)[c]) * 255)),
      expected,
    );
    const regions = faces.map((f) => templateRegion(f, SWAP_TEMPLATE));
    for (const f of faces) {
      const c = px(out, Math.round(f.x + f.w / 2), Math.round(f.y + f.h / 2));
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(c[k] - expected[k]) <= 2, `face ${c} vs ${expected}`);
    }
    const inAny = (x: number, y: number) =>
      regions.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        if (!inAny(x, y)) assert.deepEqual(px(out, x, y), px(img, x, y), `outside the faces at ${x},${y}`);
  } finally {
    await swapper.dispose();
  }
}

test('no face: unchanged, the swap network never runs', async () => {
  await swapCheck(noise(320, 240, 5), 0);
});

test('one face: swapped with the identity through the emap, the rest untouched', async () => {
  await swapCheck(await samplePhoto(1, 360, { left: 1200, top: 0, width: 720, height: 1000 }), 1);
});

test('several faces: each swapped, the rest untouched', async () => {
  await swapCheck(await samplePhoto(5, 800), 5);
});

test('a network without inswapper inputs is refused, saying what it has and what is expected', async () => {
  const dir = join(root, 'bad-swap');
  writeNet(swapModelPath(dir), (g) => {
    const x = g.input('x', [1, 3, 64, 64]);
    g.output('y', g.op('Identity', [x]), [1, 3, 64, 64]);
    g.constFloat(shiftEmap(), [D, D]);
  });
  await assert.rejects(openFaceSwapper(dir), /inputs are x: float32\[1,3,64,64\]; expected an inswapper_128/);
});
