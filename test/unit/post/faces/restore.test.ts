// face_correct with an installed restoration network (src/post/faces/restore.ts): tiny ONNX nets built here with
// the engine's GraphBuilder stand in for GFPGAN / CodeFormer, installed at <modelsDir>/faces/restore.onnx. They
// prove the plumbing (detect → template crop → [-1, 1] CHW → net → back → feathered paste) on real photos with
// zero, one and several faces; the fallback path (img2img at strength 0.3) is checked through planPostStages.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { facesLargestFirst } from '../../../../src/post/faces/inpaint.ts';
import { templateRegion } from '../../../../src/post/faces/redraw.ts';
import {
  DEFAULT_RESTORE_CONFIG,
  FACE_CORRECT_FALLBACK_STRENGTH,
  type FaceRestorer,
  FFHQ_TEMPLATE,
  faceRestoreStage,
  isFaceRestoreInstalled,
  openFaceRestorer,
  RESTORE_CONFIG,
  RESTORE_MODEL,
  readRestoreConfig,
} from '../../../../src/post/faces/restore.ts';
import type { Img2ImgRequest } from '../../../../src/post/hires-fix.ts';
import { checkPostParams, PostStageUnavailableError, planPostStages } from '../../../../src/post/index.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { noise, type Rgb8, samplePhoto } from './images.ts';
import { conv1x1, writeNet } from './tiny-nets.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-restore-test-'));
let detector: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir: join(root, 'cache') });
});
after(async () => {
  await detector.dispose();
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A fresh models dir with a restoration net y = k·x + b (in the net's [-1, 1] space) and an optional restore.json. */
function install(k: number, b: [number, number, number], size = 512, json?: object): string {
  const dir = join(root, `models-${n++}`);
  writeNet(join(dir, RESTORE_MODEL), (g) => {
    const x = g.input('input', [1, 3, size, size]);
    g.output('output', conv1x1(g, x, k, b), [1, 3, size, size]);
  });
  if (json) writeFileSync(join(dir, RESTORE_CONFIG), JSON.stringify(json));
  return dir;
}

/** Counts restore calls. */
function counted(r: FaceRestorer): FaceRestorer & { calls: number } {
  const c = { ...r, calls: 0 };
  c.restore = (face) => {
    c.calls++;
    return r.restore(face);
  };
  return c;
}

const px = (im: RawImage, x: number, y: number) => [
  ...im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3),
];

/** Runs face_correct with a net painting (0.6, −0.8, −0.2) = RGB (204, 26, 102) and checks what changed. */
async function paintCheck(img: Rgb8, expectedFaces: number) {
  const restorer = counted(await openFaceRestorer(install(0, [0.6, -0.8, -0.2])));
  try {
    const progress: number[] = [];
    const out = await faceRestoreStage(detector, restorer, { maxFaces: 8 }).run(img, {
      seed: 1,
      onProgress: (d) => progress.push(d),
    });
    const faces = facesLargestFirst(await detector.detect(img), img.width, img.height, { maxFaces: 8 });
    assert.equal(faces.length, expectedFaces);
    assert.equal(restorer.calls, expectedFaces);
    const regions = faces.map((f) => templateRegion(f, FFHQ_TEMPLATE));
    const inAny = (x: number, y: number) =>
      regions.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
    let untouched = 0;
    let changedOutside = 0;
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        if (!inAny(x, y)) {
          untouched++;
          if (px(out, x, y).join() !== px(img, x, y).join()) changedOutside++;
        }
    assert.equal(changedOutside, 0, 'pixels outside the face crops are untouched, bit for bit');
    for (const f of faces) {
      // the face box itself lies in the middle of its crop (weight 1): it is the net's output
      const c = px(out, Math.round(f.x + f.w / 2), Math.round(f.y + f.h / 2));
      assert.ok(
        Math.abs(c[0] - 204) <= 2 && Math.abs(c[1] - 26) <= 2 && Math.abs(c[2] - 102) <= 2,
        `face ${c}`,
      );
    }
    return { out, untouched, progress };
  } finally {
    await restorer.dispose();
  }
}

test('restore.json: defaults, overrides and precise errors', () => {
  const dir = install(1, [0, 0, 0]);
  assert.deepEqual(readRestoreConfig(dir), DEFAULT_RESTORE_CONFIG);
  assert.ok(isFaceRestoreInstalled(dir));
  assert.ok(!isFaceRestoreInstalled(join(root, 'nothing-here')));
  assert.ok(!isFaceRestoreInstalled(undefined));
  writeFileSync(join(dir, RESTORE_CONFIG), JSON.stringify({ size: 256, range: '0..1', fidelity: 0.7 }));
  assert.deepEqual(readRestoreConfig(dir), {
    ...DEFAULT_RESTORE_CONFIG,
    size: 256,
    range: '0..1',
    fidelity: 0.7,
  });
  for (const [bad, why] of [
    [{ size: 10 }, /size/],
    [{ range: '0..255' }, /range/],
    [{ fidelity: 2 }, /fidelity/],
    [{ centreY: 1 }, /centreY/],
    [[1], /object/],
  ] as const) {
    writeFileSync(join(dir, RESTORE_CONFIG), JSON.stringify(bad));
    assert.throws(() => readRestoreConfig(dir), why);
  }
  writeFileSync(join(dir, RESTORE_CONFIG), '{nope');
  assert.throws(() => readRestoreConfig(dir), /not valid JSON/);
});

test('one face: only the face crop is replaced by the network output', async () => {
  const img = await samplePhoto(1, 360, { left: 1200, top: 0, width: 720, height: 1000 });
  const { untouched, progress } = await paintCheck(img, 1);
  assert.ok(untouched > img.width * img.height * 0.3);
  assert.deepEqual(progress, [0, 1]);
});

test('several faces: each face crop is restored, everything else untouched', async () => {
  const img = await samplePhoto(5, 800);
  const { progress } = await paintCheck(img, 5);
  assert.deepEqual(progress, [0, 1, 2, 3, 4, 5]);
});

test('no face: the image is returned as is and the network never runs', async () => {
  const restorer = counted(await openFaceRestorer(install(0, [1, 1, 1])));
  try {
    const img = noise(320, 240, 9);
    assert.equal(await faceRestoreStage(detector, restorer).run(img, { seed: 1 }), img);
    assert.equal(restorer.calls, 0);
  } finally {
    await restorer.dispose();
  }
});

test('an identity network gives the face back, in [-1, 1] and in 0..1 (restore.json range): the conversions round-trip', async () => {
  const img = await samplePhoto(3, 480);
  for (const json of [undefined, { range: '0..1', size: 256 }]) {
    const restorer = await openFaceRestorer(install(1, [0, 0, 0], json ? 256 : 512, json));
    try {
      const out = await faceRestoreStage(detector, restorer).run(img, { seed: 1 });
      let sum = 0;
      for (let i = 0; i < img.data.length; i++) sum += Math.abs(out.data[i] - img.data[i]);
      // only resampling (crop → net size → back, lanczos) differs
      assert.ok(sum / img.data.length < 1.5, `mean abs diff ${sum / img.data.length}`);
    } finally {
      await restorer.dispose();
    }
  }
});

test("CodeFormer's second input gets the fidelity weight (float64 here)", async () => {
  const dir = join(root, 'codeformer');
  writeNet(join(dir, RESTORE_MODEL), (g) => {
    const w = g.input('weight', [1], 11 as never); // DOUBLE, declared first: inputs are matched by name
    const x = g.input('input', [1, 3, 64, 64]);
    const wf = g.op('Cast', [w], { to: 1 });
    g.output('output', g.op('Add', [g.op('Mul', [x, g.scalar(0)]), wf]), [1, 3, 64, 64]);
  });
  writeFileSync(join(dir, RESTORE_CONFIG), JSON.stringify({ size: 64, fidelity: 0.8 }));
  const r = await openFaceRestorer(dir);
  try {
    const face = { data: new Uint8Array(64 * 64 * 3).fill(10), width: 64, height: 64, channels: 3 as const };
    const out = await r.restore(face);
    assert.equal(out.data[0], Math.round(((0.8 + 1) / 2) * 255));
  } finally {
    await r.dispose();
  }
});

test('a network that does not fit the contract is refused with what it has and what is expected', async () => {
  const dir = join(root, 'wrong');
  writeNet(join(dir, RESTORE_MODEL), (g) => {
    const x = g.input('input', [1, 3, 128, 128]);
    g.output('output', conv1x1(g, x, 1, [0, 0, 0]), [1, 3, 128, 128]);
  });
  await assert.rejects(
    openFaceRestorer(dir),
    /input input is float32\[1,3,128,128\], expected float32\[1,3,512,512\]/,
  );
  await assert.rejects(
    openFaceRestorer(join(root, 'empty')),
    /install GFPGAN v1.4 or CodeFormer ONNX at .*faces\/restore.onnx/,
  );
});

test('planning: the network when installed, else inpaint-faces at strength 0.3 under the name face_correct', async () => {
  const calls: Img2ImgRequest[] = [];
  const img2img = {
    async img2img(r: Img2ImgRequest) {
      calls.push(r);
      return r.image;
    },
  };
  const restorer = counted(await openFaceRestorer(install(1, [0, 0, 0])));
  try {
    const withNet = planPostStages(
      { seed: 1, face_correct: true },
      { faceDetector: detector, faceRestorer: restorer, img2img },
    );
    assert.deepEqual(
      withNet.map((s) => s.name),
      ['face_correct'],
    );
    const photo = await samplePhoto(3, 480);
    await withNet[0].run(photo, { seed: 1 });
    assert.equal(restorer.calls, 3);
    assert.equal(calls.length, 0);
    const fallback = planPostStages({ seed: 1, face_correct: true }, { faceDetector: detector, img2img });
    assert.deepEqual(
      fallback.map((s) => s.name),
      ['face_correct'],
    );
    await fallback[0].run(photo, { seed: 1 });
    assert.equal(calls.length, 3);
    assert.ok(calls.every((c) => c.strength === FACE_CORRECT_FALLBACK_STRENGTH && c.image.width === 512));
    // order: after inpaint_faces, before grading
    assert.deepEqual(
      planPostStages(
        { seed: 1, super_resolution: true, inpaint_faces: true, face_correct: true, color_grading: 'Ektar' },
        {
          faceDetector: detector,
          img2img,
          superResolution: { name: 'super_resolution', run: async (i) => i },
        },
      ).map((s) => s.name),
      ['super_resolution', 'inpaint_faces', 'face_correct', 'color_grading'],
    );
  } finally {
    await restorer.dispose();
  }
  // neither a network nor img2img: refused with what to install
  assert.throws(
    () =>
      checkPostParams(
        { seed: 1, face_correct: true },
        { superResolution: false, img2img: false, faces: true },
      ),
    (e: unknown) =>
      e instanceof PostStageUnavailableError &&
      e.field === 'face_correct' &&
      /faces\/restore\.onnx/.test(e.message),
  );
  checkPostParams(
    { seed: 1, face_correct: true },
    { superResolution: false, img2img: false, faces: true, faceRestore: true },
  );
});

test('the runner keeps the network open between prompts and reopens it when the file is replaced', async () => {
  const { PostResources } = await import('../../../../src/engine/pipeline-runner.ts');
  const resources = new PostResources();
  try {
    const dir = join(root, 'reopen');
    assert.equal(await resources.faceRestorer(dir), undefined, 'nothing installed: the fallback path');
    const paint = (b: [number, number, number], size: number) =>
      writeNet(join(dir, RESTORE_MODEL), (g) => {
        const x = g.input('input', [1, 3, size, size]);
        g.output('output', conv1x1(g, x, 0, b), [1, 3, size, size]);
      });
    paint([1, 1, 1], 512);
    const first = await resources.faceRestorer(dir);
    assert.ok(first);
    assert.equal(await resources.faceRestorer(dir), first);
    paint([-1, -1, -1], 64);
    writeFileSync(join(dir, RESTORE_CONFIG), JSON.stringify({ size: 64 }));
    const second = await resources.faceRestorer(dir);
    assert.ok(second && second !== first);
    const face = { data: new Uint8Array(64 * 64 * 3).fill(128), width: 64, height: 64, channels: 3 as const };
    assert.equal((await second.restore(face)).data[0], 0);
  } finally {
    await resources.dispose();
  }
});
