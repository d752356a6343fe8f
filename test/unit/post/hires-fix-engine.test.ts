// The hires-fix stage on the engine's real img2img pipeline, with the tiny random-weight SD 1.5 fixture.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../src/engine/model-manager.ts';
import { PIPELINES } from '../../../src/engine/pipeline/index.ts';
import { hiresFixStage, tileSeed } from '../../../src/post/hires-fix.ts';
import { engineImg2ImgRunner, type HiresPromptSettings } from '../../../src/post/hires-fix-engine.ts';
import type { RawImage } from '../../../src/post/types.ts';
import { openFixtureModel } from '../engine/pipeline/helpers.ts';

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel();
});
after(() => model.dispose());

const prompt: HiresPromptSettings = {
  text: 'a photo of an astronaut riding a horse on mars',
  negativePrompt: 'blurry',
  steps: 4,
  cfgScale: 7.5,
  sampler: 'euler',
};

function picture(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set([(x * 255) / w, (y * 255) / h, 90], (y * w + x) * 3);
  return { data, width: w, height: h, channels: 3 };
}

test('one tile: the stage returns exactly what img2img makes of it at the tile seed and strength', async () => {
  const img = picture(64, 64);
  const out = await hiresFixStage(engineImg2ImgRunner(model, prompt), {
    tile: 64,
    overlap: 16,
    strength: 0.5,
  }).run(img, { seed: 99 });
  const direct = await PIPELINES.img2img(model, {
    ...prompt,
    numImages: 1,
    width: 64,
    height: 64,
    seed: tileSeed(99, 0, 0),
    initImage: { data: Float32Array.from(img.data, (v) => v / 255), dims: [1, 64, 64, 3] },
    denoisingStrength: 0.5,
  });
  const expected = Array.from(direct.images.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  assert.deepEqual(Array.from(out.data), expected);
});

test('several tiles and a size that is no multiple of 64: same size out, changed, reproducible by seed', async () => {
  const img = picture(150, 90);
  const steps: number[] = [];
  const stage = hiresFixStage(engineImg2ImgRunner(model, prompt), { tile: 64, overlap: 16, strength: 0.5 });
  const a = await stage.run(img, { seed: 7, onProgress: (d) => steps.push(d) });
  assert.equal(a.width, 150);
  assert.equal(a.height, 90);
  assert.equal(steps.at(-1), 3 * 2);
  assert.notDeepEqual(a.data, img.data);
  const b = await stage.run(img, { seed: 7 });
  assert.deepEqual(b.data, a.data);
  const c = await stage.run(img, { seed: 8 });
  assert.notDeepEqual(c.data, a.data);
  const odd = await hiresFixStage(engineImg2ImgRunner(model, prompt), { tile: 512 }).run(picture(70, 50), {
    seed: 1,
  });
  assert.equal(odd.width, 70);
  assert.equal(odd.height, 50);
});
