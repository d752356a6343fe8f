import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { PIPELINES } from '../../../../src/engine/pipeline/index.ts';
import { type RefTensor, tensor } from '../parity.ts';
import { maxAbsDiff, openFixtureModel, pipelineRef } from './helpers.ts';

interface Img2ImgRef {
  prompt: string;
  negative_prompt: string;
  strength: number;
  num_inference_steps: number;
  guidance_scale: number;
  generator_seed: number;
  init_image_nhwc_0_1: RefTensor;
  step_latents: { latents: RefTensor }[];
  image: RefTensor;
}

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel();
});
after(() => model.dispose());

test('img2img from the seed alone matches diffusers (encode sample and add_noise drawn from the generator)', async (t) => {
  const ref = pipelineRef<Img2ImgRef>('pipeline_img2img.json');
  const progress: string[] = [];
  const out = await PIPELINES.img2img(model, {
    text: ref.prompt,
    negativePrompt: ref.negative_prompt,
    numImages: 1,
    width: 128,
    height: 128,
    seed: ref.generator_seed,
    steps: ref.num_inference_steps,
    cfgScale: ref.guidance_scale,
    sampler: 'euler',
    initImage: tensor(ref.init_image_nhwc_0_1),
    denoisingStrength: ref.strength,
    onProgress: (p) => progress.push(`${p.phase} ${p.step}/${p.total}`),
  });
  // strength 0.6 of 4 steps: only the last 2 run
  assert.equal(out.stepLatents.length, 2);
  assert.deepEqual(progress, ['encoding 1/1', 'denoising 1/2', 'denoising 2/2', 'decoding 1/1']);
  ref.step_latents.forEach((s, i) => {
    const d = maxAbsDiff(out.stepLatents[i], tensor(s.latents).data);
    assert.ok(d < 1e-3, `step ${i}: max |diff| ${d}`);
  });
  const d = maxAbsDiff(out.images.data, tensor(ref.image).data);
  t.diagnostic(`image max |diff| ${d}`);
  assert.ok(d < 1e-4, `image max |diff| ${d}`);
});

test('img2img with strength 0 runs no step and returns the re-decoded input', async () => {
  const ref = pipelineRef<Img2ImgRef>('pipeline_img2img.json');
  const out = await PIPELINES.img2img(model, {
    text: ref.prompt,
    negativePrompt: '',
    numImages: 1,
    width: 128,
    height: 128,
    seed: 1,
    steps: 4,
    cfgScale: 7.5,
    sampler: 'euler',
    initImage: tensor(ref.init_image_nhwc_0_1),
    denoisingStrength: 0,
  });
  assert.equal(out.stepLatents.length, 0);
});
