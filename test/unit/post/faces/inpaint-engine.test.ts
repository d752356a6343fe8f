// inpaint_faces on the engine's real img2img pipeline (tiny random-weight SD 1.5 fixture, so the redrawn faces are
// noise-like: this checks the plumbing with a real model — sizes, seeds, blending, reproducibility — not quality).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { faceRegions, inpaintFacesStage } from '../../../../src/post/faces/inpaint.ts';
import { engineImg2ImgRunner } from '../../../../src/post/hires-fix-engine.ts';
import { openFixtureModel } from '../../engine/pipeline/helpers.ts';
import { samplePhoto } from './images.ts';

let model: LoadedSdModel;
let detector: FaceDetector;
before(async () => {
  model = await openFixtureModel();
  detector = await createFaceDetector({ cacheDir: mkdtempSync(join(tmpdir(), 'atelier-inpaint-engine-')) });
});
after(async () => {
  await detector.dispose();
  await model.dispose();
});

test('faces redrawn by the engine img2img: only face squares change, reproducible by seed, seed-dependent', async () => {
  const img = await samplePhoto(3, 480); // three faces
  const runner = engineImg2ImgRunner(model, {
    text: 'a portrait photo',
    negativePrompt: '',
    steps: 4,
    cfgScale: 7.5,
    sampler: 'euler',
  });
  const stage = inpaintFacesStage(detector, runner, { resolution: 64, strength: 0.6 });
  const a = await stage.run(img, { seed: 5 });
  const b = await stage.run(img, { seed: 5 });
  const c = await stage.run(img, { seed: 6 });
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);

  const regions = faceRegions(await detector.detect(img), img.width, img.height);
  assert.equal(regions.length, 3);
  let changedInside = 0;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const inside = regions.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
      const i = (y * img.width + x) * 3;
      const same =
        a.data[i] === img.data[i] && a.data[i + 1] === img.data[i + 1] && a.data[i + 2] === img.data[i + 2];
      if (!inside) assert.ok(same, `pixel ${x},${y} outside the face squares changed`);
      else if (!same) changedInside++;
    }
  const area = regions.reduce((s, r) => s + r.w * r.h, 0);
  assert.ok(changedInside > area / 2, `${changedInside} of ~${area} face-square pixels changed`);
});
