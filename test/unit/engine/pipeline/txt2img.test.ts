import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { encodeConditioning, PIPELINES } from '../../../../src/engine/pipeline/index.ts';
import type { SamplerName } from '../../../../src/engine/schedulers/index.ts';
import { type RefTensor, tensor } from '../parity.ts';
import { maxAbsDiff, openFixtureModel, pipelineRef, refConditioning } from './helpers.ts';

interface Run {
  scheduler: string;
  timesteps: number[];
  step_latents: { i: number; t: number; latents: RefTensor }[];
  image: RefTensor;
}
interface TxtRef {
  prompt: string;
  negative_prompt: string;
  prompt_embeds: RefTensor;
  negative_prompt_embeds: RefTensor;
  guidance_scale: number;
  initial_latents: RefTensor;
  runs: Run[];
}

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel();
});
after(() => model.dispose());

const SAMPLERS: Record<string, SamplerName> = {
  EulerDiscreteScheduler: 'euler',
  DPMSolverMultistepScheduler: 'dpm++2m_karras',
};

test('the text conditioning equals the reference prompt embeddings', async () => {
  const ref = pipelineRef<TxtRef>('pipeline_txt2img.json');
  const c = await encodeConditioning(model, ref.prompt, ref.negative_prompt);
  const r = refConditioning(ref as unknown as Record<string, unknown>);
  assert.ok(maxAbsDiff(c.cond.data, r.cond.data) < 1e-5);
  assert.ok(maxAbsDiff(c.uncond.data, r.uncond.data) < 1e-5);
});

for (const cls of Object.keys(SAMPLERS)) {
  test(`txt2img with ${cls} matches diffusers' latents after every step and the decoded image`, async (t) => {
    const ref = pipelineRef<TxtRef>('pipeline_txt2img.json');
    const run = ref.runs.find((r) => r.scheduler === cls);
    assert.ok(run, cls);
    const out = await PIPELINES.txt2img(model, {
      text: ref.prompt,
      negativePrompt: ref.negative_prompt,
      numImages: 1,
      width: 128,
      height: 128,
      seed: 2024 + 6,
      steps: 4,
      cfgScale: ref.guidance_scale,
      sampler: SAMPLERS[cls],
      initialLatents: tensor(ref.initial_latents).data,
    });
    assert.equal(out.stepLatents.length, run.step_latents.length);
    run.step_latents.forEach((s, i) => {
      const d = maxAbsDiff(out.stepLatents[i], tensor(s.latents).data);
      assert.ok(d < 1e-3, `step ${i}: max |diff| ${d}`);
      if (i === run.step_latents.length - 1) t.diagnostic(`final latents max |diff| ${d}`);
    });
    const d = maxAbsDiff(out.images.data, tensor(run.image).data);
    assert.ok(d < 1e-4, `image max |diff| ${d}`);
    t.diagnostic(`image max |diff| ${d}`);
    assert.deepEqual(out.images.dims, run.image.shape);
  });
}
