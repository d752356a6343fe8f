// The ControlNet pipeline against refs/controlnet.json "pipeline" (StableDiffusionControlNetPipeline, Euler,
// 4 steps, CFG 7.5, scale 0.8, given initial latents), plus img2img-with-control and the scale's effect.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readLora } from '../../../src/engine/checkpoint/lora.ts';
import { SafetensorsFile } from '../../../src/engine/checkpoint/safetensors.ts';
import type { Tensor } from '../../../src/engine/components.ts';
import { loadParts } from '../../../src/engine/load.ts';
import { baseGraphs, loraTargets } from '../../../src/engine/lora-graphs.ts';
import type { LoadedSdModel } from '../../../src/engine/model-manager.ts';
import { loadControlNet } from '../../../src/engine/models/controlnet.ts';
import {
  type ControlledSdModel,
  controlImageBatch,
  controlnetPipeline,
  openControlUnet,
} from '../../../src/engine/pipeline/controlnet.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { MODEL_DIR, type RefTensor, tensor } from './parity.ts';
import { GRAPH_CACHE, maxAbsDiff, openFixtureModel, pipelineRef } from './pipeline/helpers.ts';

interface PipelineRef {
  prompt: string;
  negative_prompt: string;
  prompt_embeds: RefTensor;
  negative_prompt_embeds: RefTensor;
  guidance_scale: number;
  num_inference_steps: number;
  controlnet_conditioning_scale: number;
  initial_latents: RefTensor;
  generator_seed: number;
  step_latents: { latents: RefTensor }[];
  image: RefTensor;
}

let base: LoadedSdModel;
let model: ControlledSdModel;
let release: () => Promise<void>;
let ref: PipelineRef;
let controlImage: Tensor;

/** NCHW [1, C, H, W] -> NHWC [1, H, W, C] */
function toNhwc(t: Tensor): Tensor {
  const [, c, h, w] = t.dims;
  const out = new Float32Array(t.data.length);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) out[(y * w + x) * c + ch] = t.data[(ch * h + y) * w + x];
  return { data: out, dims: [1, h, w, c] };
}

before(async () => {
  const all = pipelineRef<{ pipeline: PipelineRef; direct: { control_image_nchw_0_1: RefTensor } }>(
    'controlnet.json',
  );
  ref = all.pipeline;
  controlImage = toNhwc(tensor(all.direct.control_image_nchw_0_1));
  base = await openFixtureModel();
  const session = { intraOpThreads: 1 };
  const parts = await loadParts(MODEL_DIR(), {
    cacheDir: GRAPH_CACHE,
    components: ['unet'],
    unet: { controlResiduals: true },
    session,
  });
  const controlnet = await loadControlNet(fixturePath('sd-reference', 'model-controlnet'), {
    cacheDir: GRAPH_CACHE,
    session,
  });
  model = { ...base, controlUnet: parts.unet!, controlnet };
  release = async () => {
    await Promise.all([parts.dispose(), controlnet.dispose(), base.dispose()]);
  };
});
after(() => release());

const request = () => ({
  text: ref.prompt,
  negativePrompt: ref.negative_prompt,
  numImages: 1,
  width: 128,
  height: 128,
  seed: ref.generator_seed,
  steps: ref.num_inference_steps,
  cfgScale: ref.guidance_scale,
  sampler: 'euler' as const,
  controlImage,
  conditioningScale: ref.controlnet_conditioning_scale,
  txt2img: true,
});

test('control image batch: NHWC -> NCHW, unnormalised, repeated', () => {
  const img = { data: Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), dims: [1, 1, 2, 3] };
  const b = controlImageBatch(img, 2);
  assert.deepEqual(b.dims, [2, 3, 1, 2]);
  assert.deepEqual(
    [...b.data].map((v) => Math.round(v * 10)),
    [1, 4, 2, 5, 3, 6, 1, 4, 2, 5, 3, 6],
  );
});

test('txt2img with control matches StableDiffusionControlNetPipeline step by step', async (t) => {
  const progress: string[] = [];
  const out = await controlnetPipeline(model, {
    ...request(),
    initialLatents: tensor(ref.initial_latents).data,
    onProgress: (p) => progress.push(`${p.phase} ${p.step}/${p.total}`),
  });
  assert.equal(out.stepLatents.length, 4);
  assert.deepEqual(progress, [
    'encoding 1/1',
    'denoising 1/4',
    'denoising 2/4',
    'denoising 3/4',
    'denoising 4/4',
    'decoding 1/1',
  ]);
  let worst = 0;
  ref.step_latents.forEach((s, i) => {
    const d = maxAbsDiff(out.stepLatents[i], tensor(s.latents).data);
    worst = Math.max(worst, d);
    assert.ok(d < 1e-3, `step ${i}: max |diff| ${d}`);
  });
  const d = maxAbsDiff(out.images.data, tensor(ref.image).data);
  t.diagnostic(`step latents max |diff| ${worst}, image max |diff| ${d}`);
  assert.ok(d < 1e-4, `image max |diff| ${d}`);
});

test('the control matters: scale 0 gives a different image than 0.8, and equals plain txt2img', async () => {
  const latents = tensor(ref.initial_latents).data;
  const controlled = await controlnetPipeline(model, { ...request(), initialLatents: latents });
  const off = await controlnetPipeline(model, {
    ...request(),
    initialLatents: latents,
    conditioningScale: 0,
  });
  assert.ok(maxAbsDiff(controlled.images.data, off.images.data) > 1e-2);
  const { txt2img } = await import('../../../src/engine/pipeline/txt2img.ts');
  const plain = await txt2img(base, { ...request(), initialLatents: latents });
  assert.ok(maxAbsDiff(off.images.data, plain.images.data) < 1e-5);
});

test('img2img with control: starts from the encoded input, runs floor(n * strength) steps', async () => {
  const out = await controlnetPipeline(model, {
    ...request(),
    txt2img: false,
    initImage: controlImage,
    denoisingStrength: 0.5,
  });
  assert.equal(out.stepLatents.length, 2);
  const txt = await controlnetPipeline(model, { ...request(), seed: ref.generator_seed });
  assert.ok(maxAbsDiff(out.images.data, txt.images.data) > 1e-2);
  await assert.rejects(controlnetPipeline(model, { ...request(), txt2img: false }), /needs an input image/);
  await assert.rejects(
    controlnetPipeline(model, { ...request(), width: 64, height: 64 }),
    /control image is 128x128/,
  );
});

test('LoRA under control: the residual-input UNet gets the same merge (refs/lora.json, zero residuals)', async (t) => {
  const ref = pipelineRef<{
    lora_scale: number;
    results: { kohya: { unet_cases: { timestep: number; output: RefTensor }[] } };
  }>('lora.json');
  const unetRef = pipelineRef<{ sample: RefTensor; encoder_hidden_states: RefTensor }>('unet.json');
  const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-cnlora-'));
  const file = SafetensorsFile.open(fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors'));
  try {
    const weights = readLora(file, loraTargets(baseGraphs(MODEL_DIR(), cacheDir)));
    const unet = await openControlUnet(
      MODEL_DIR(),
      base.unet.config,
      { cacheDir, session: { intraOpThreads: 1 } },
      { weights: [{ weights, scale: ref.lora_scale }], set: [{ id: 'kohya', scale: ref.lora_scale }] },
    );
    try {
      const sample = tensor(unetRef.sample);
      const zero = (dims: number[]) => ({ data: new Float32Array(dims.reduce((a, d) => a * d, 1)), dims });
      const probe = await model.controlnet.residuals(
        sample,
        999,
        tensor(unetRef.encoder_hidden_states),
        controlImageBatch(controlImage, sample.dims[0]),
        0,
      );
      const control = { down: probe.down.map((r) => zero(r.dims)), mid: zero(probe.mid.dims) };
      for (const c of ref.results.kohya.unet_cases) {
        const out = await unet.predict(sample, c.timestep, tensor(unetRef.encoder_hidden_states), control);
        const d = maxAbsDiff(out.data, tensor(c.output).data);
        t.diagnostic(`t=${c.timestep}: max |diff| ${d}`);
        assert.ok(d < 1e-4, `t=${c.timestep}: ${d}`);
      }
    } finally {
      await unet.dispose();
    }
  } finally {
    file.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});
