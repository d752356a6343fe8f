// LoRA import (ext) on the real sd15 branch: the tiny fixture model registered with `atelier models add` as base
// tune 690204, the real SdGenerator (pipelines on a worker thread). A LoRA made for that model is imported and
// changes generation (lora_scale 0 gives exactly the base model's image); files made for another architecture,
// or a missing base_tune_id, are 422s that say what does not fit.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { type Harness, type Json, multipart, safetensorsBytes, waitFor } from '../api/helpers.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { type SdHarness, sdHarness } from '../helpers/sd-harness.ts';

const BASE_TUNE = 690204;
const LORA = readFileSync(fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors'));
let sd: SdHarness;
let h: Harness;

before(async () => {
  sd = await sdHarness({ baseTune: BASE_TUNE, name: 'tiny-sd15', defaultSteps: 3 });
  h = sd.h;
});

after(() => sd.close());

let n = 0;
async function importLora(
  data: Buffer,
  fields: [string, string][] = [['tune[base_tune_id]', String(BASE_TUNE)]],
) {
  const mp = await multipart([
    ['tune[title]', `sd15-import-${++n}`],
    ['tune[name]', 'style'],
    ...fields,
    ['tune[lora_file]', { data, filename: 'lora.safetensors' }],
  ]);
  return h.req({ method: 'POST', url: '/tunes', ...mp });
}

function loraError(res: { statusCode: number; body: string }, field = 'lora_file'): string {
  assert.equal(res.statusCode, 422, res.body);
  const errors = JSON.parse(res.body).errors as Record<string, string[]>;
  assert.ok(errors[field], res.body);
  return errors[field].join(' ');
}

async function generate(tune: number, params: Record<string, unknown>): Promise<Buffer> {
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tune}/prompts`,
    payload: {
      prompt: { text: 'a photo of ohwx style', w: 64, h: 64, num_images: 1, steps: 2, seed: 4, ...params },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const p = await waitFor(
    async () => {
      const got = (await h.req({ method: 'GET', url: `/prompts/${res.json().id}` })).json() as Json;
      return ['completed', 'failed', 'cancelled'].includes(got.status) ? got : null;
    },
    'prompt finished',
    300_000,
  );
  assert.equal(p.status, 'completed', JSON.stringify(p));
  const img = p.images[0];
  const url = new URL(typeof img === 'string' ? img : img.url);
  return (await h.app.inject({ method: 'GET', url: url.pathname })).rawPayload;
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = [await sharp(a).raw().toBuffer(), await sharp(b).raw().toBuffer()];
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
  return s / x.length;
}

test('a LoRA for the base model is imported on its branch; prompts apply it, lora_scale 0 is the base model', async () => {
  const res = await importLora(LORA);
  assert.equal(res.statusCode, 201, res.body);
  const t = res.json() as Json;
  assert.equal(t.branch, 'sd15', 'the branch comes from the base tune');
  assert.equal(t.status, 'trained');
  assert.equal(t.base_tune_id, BASE_TUNE);
  const base = await generate(BASE_TUNE, {});
  const off = await generate(t.id, { lora_scale: 0 });
  const on = await generate(t.id, { lora_scale: 0.1 });
  assert.deepEqual(await sharp(off).raw().toBuffer(), await sharp(base).raw().toBuffer());
  const d = await meanAbsDiff(base, on);
  assert.ok(d > 0.2, `the imported LoRA at 0.1 changed the image by ${d}`);
  // the diffusers-format file of the same LoRA is accepted as well
  const diffusers = readFileSync(fixturePath('sd-reference', 'lora', 'lora_diffusers.safetensors'));
  assert.equal((await importLora(diffusers)).statusCode, 201);
});

test('an SDXL LoRA on the sd15 base model is a 422 that says so', async () => {
  const sdxl = safetensorsBytes([
    { name: 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight', shape: [4, 2048] },
    { name: 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight', shape: [640, 4] },
    { name: 'lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight', shape: [4, 1280] },
    { name: 'lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight', shape: [1280, 4] },
  ]);
  const msg = loraError(await importLora(sdxl));
  assert.match(msg, /does not fit base model models\/tiny-sd15 \(tune 690204, sd15\)/);
  assert.match(msg, /1 of 1 layers target modules it does not have \(lora_unet_input_blocks_4_1/);
  assert.match(msg, /looks like an SDXL LoRA \(it has layers for a second text encoder, .*2048 wide\)/);
});

test('a LoRA with the right module names but other widths is a 422 naming the layer and both shapes', async () => {
  const prefix = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
  const sd2 = safetensorsBytes([
    { name: `${prefix}.lora_down.weight`, shape: [4, 1024] },
    { name: `${prefix}.lora_up.weight`, shape: [32, 4] },
  ]);
  const msg = loraError(await importLora(sd2));
  assert.match(msg, /1 layers have other shapes/);
  assert.match(
    msg,
    /attn2\.to_k is \[32, 32\] in the base model, the LoRA's up \[32, 4\] · down \[4, 1024\]/,
  );
  assert.match(msg, /looks like an SD 2\.x LoRA/);
});

test('sd15 needs base_tune_id, and it must be an installed base model', async () => {
  const msg = loraError(await importLora(LORA, [['tune[branch]', 'sd15']]), 'base_tune_id');
  assert.match(msg, /is required to import a LoRA on branch sd15/);
  // a fast tune as base on the sd15 branch: no installed model behind it
  const fast = await importLora(LORA, [['tune[branch]', 'fast']]);
  assert.equal(fast.statusCode, 201, fast.body);
  const noModel = await importLora(LORA, [
    ['tune[branch]', 'sd15'],
    ['tune[base_tune_id]', String(fast.json().id)],
  ]);
  assert.match(loraError(noModel, 'base_tune_id'), /no installed base model/);
});
