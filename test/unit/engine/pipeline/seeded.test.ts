// refs/pipeline_seeded.json, mode generator_per_image: the latents come from the seed alone (image i from
// Generator.manual_seed(seed + i), including seed 2^32 - 1 whose second generator is seeded 2^32), and the
// 8-bit PNGs written from our float images must match diffusers' byte for byte or be at most one level off.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { imageBytes, PIPELINES } from '../../../../src/engine/pipeline/index.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { type RefTensor, tensor } from '../parity.ts';
import { maxAbsDiff, openFixtureModel, pipelineRef } from './helpers.ts';

interface SeededRun {
  mode: string;
  seed: number;
  scheduler: string;
  initial_latents_drawn: RefTensor;
  step_latents: { latents: RefTensor }[];
  image: RefTensor;
  png_files: string[];
}
interface SeededRef {
  prompt: string;
  negative_prompt: string;
  guidance_scale: number;
  num_inference_steps: number;
  num_images_per_prompt: number;
  runs: SeededRun[];
}

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel();
});
after(() => model.dispose());

const SAMPLER = { EulerDiscreteScheduler: 'euler', EulerAncestralDiscreteScheduler: 'euler_a' } as const;

const ref = pipelineRef<SeededRef>('pipeline_seeded.json');
for (const run of ref.runs.filter((r) => r.mode === 'generator_per_image')) {
  test(`seed ${run.seed}, ${run.scheduler}: latents, images and PNGs from the seed alone`, async (t) => {
    const out = await PIPELINES.txt2img(model, {
      text: ref.prompt,
      negativePrompt: ref.negative_prompt,
      numImages: ref.num_images_per_prompt,
      width: 128,
      height: 128,
      seed: run.seed,
      steps: ref.num_inference_steps,
      cfgScale: ref.guidance_scale,
      sampler: SAMPLER[run.scheduler as keyof typeof SAMPLER],
    });
    run.step_latents.forEach((s, i) => {
      const d = maxAbsDiff(out.stepLatents[i], tensor(s.latents).data);
      assert.ok(d < 1e-3, `step ${i}: max |diff| ${d}`);
    });
    assert.ok(maxAbsDiff(out.images.data, tensor(run.image).data) < 1e-4);
    let exact = 0;
    let offByOne = 0;
    for (const [i, file] of run.png_files.entries()) {
      const png = await sharp(fixturePath('sd-reference', 'refs', file))
        .raw()
        .toBuffer();
      const ours = imageBytes(out.images, i);
      assert.equal(png.length, ours.length);
      for (let k = 0; k < ours.length; k++) {
        const d = Math.abs(ours[k] - png[k]);
        assert.ok(d <= 1, `${file} byte ${k}: ours ${ours[k]}, reference ${png[k]}`);
        if (d === 0) exact++;
        else offByOne++;
      }
    }
    t.diagnostic(`PNG bytes: ${exact} identical, ${offByOne} one level off`);
  });
}

test('the single-generator reference differs from ours only in image 1 for Euler (a check that the mode matters)', async () => {
  const single = ref.runs.find(
    (r) => r.mode === 'single_generator' && r.scheduler === 'EulerDiscreteScheduler',
  )!;
  const perImage = ref.runs.find(
    (r) =>
      r.mode === 'generator_per_image' && r.scheduler === 'EulerDiscreteScheduler' && r.seed === single.seed,
  )!;
  const a = tensor(single.initial_latents_drawn).data;
  const b = tensor(perImage.initial_latents_drawn).data;
  assert.equal(maxAbsDiff(a.subarray(0, 1024), b.subarray(0, 1024)), 0);
  assert.ok(maxAbsDiff(a.subarray(1024), b.subarray(1024)) > 0.1);
});
