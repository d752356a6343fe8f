import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { PIPELINES } from '../../../../src/engine/pipeline/index.ts';
import { latentMask } from '../../../../src/engine/pipeline/inpaint.ts';
import { type RefTensor, tensor } from '../parity.ts';
import { maxAbsDiff, openFixtureModel, pipelineRef } from './helpers.ts';

interface InpaintRef {
  prompt: string;
  negative_prompt: string;
  num_inference_steps: number;
  guidance_scale: number;
  generator_seed: number;
  image_nhwc_0_1: RefTensor;
  mask_nhwc: RefTensor;
  initial_latents: RefTensor;
  step_latents: { latents: RefTensor }[];
  image: RefTensor;
}

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel(true);
});
after(() => model.dispose());

function request(ref: InpaintRef) {
  return {
    text: ref.prompt,
    negativePrompt: ref.negative_prompt,
    numImages: 1,
    width: 128,
    height: 128,
    seed: ref.generator_seed,
    steps: ref.num_inference_steps,
    cfgScale: ref.guidance_scale,
    sampler: 'euler' as const,
    initImage: tensor(ref.image_nhwc_0_1),
    mask: tensor(ref.mask_nhwc),
    denoisingStrength: 1,
  };
}

test('inpainting with the 9-channel UNet matches diffusers after every step and in the image', async (t) => {
  const ref = pipelineRef<InpaintRef>('pipeline_inpaint.json');
  const out = await PIPELINES.inpaint(model, {
    ...request(ref),
    initialLatents: tensor(ref.initial_latents).data,
  });
  ref.step_latents.forEach((s, i) => {
    const d = maxAbsDiff(out.stepLatents[i], tensor(s.latents).data);
    assert.ok(d < 1e-3, `step ${i}: max |diff| ${d}`);
  });
  const d = maxAbsDiff(out.images.data, tensor(ref.image).data);
  t.diagnostic(`image max |diff| ${d}`);
  assert.ok(d < 1e-4, `image max |diff| ${d}`);
});

test('latent-mask blending with a 4-channel UNet keeps the unmasked latents equal to the image latents', async () => {
  const ref = pipelineRef<InpaintRef>('pipeline_inpaint.json');
  const plain = { ...model, inpaintUnet: undefined };
  const out = await PIPELINES.inpaint(plain, request(ref));
  const m = latentMask(
    Float32Array.from(tensor(ref.mask_nhwc).data, (v) => (v >= 0.5 ? 1 : 0)),
    128,
    128,
    16,
    16,
  );
  const keep = [...m.keys()].filter((k) => m[k] === 0);
  const repaint = [...m.keys()].filter((k) => m[k] === 1);
  assert.ok(keep.length > 0 && repaint.length > 0);
  // same seed and strength 0 in the masked area: the kept region is exactly the clean encoded image
  const clean = await PIPELINES.img2img(plain, { ...request(ref), mask: undefined, denoisingStrength: 0 });
  for (const k of keep)
    for (let c = 0; c < 4; c++) assert.equal(out.latents.data[c * 256 + k], clean.latents.data[c * 256 + k]);
  // the repainted region was actually denoised
  const diff = repaint.reduce((a, k) => a + Math.abs(out.latents.data[k] - clean.latents.data[k]), 0);
  assert.ok(diff > 1e-2);
});
