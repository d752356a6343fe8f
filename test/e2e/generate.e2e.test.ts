// End to end: the tiny fixture model registered with `atelier models add` as base-model tune 690204, the real
// SdGenerator in the engines, prompts through buildApp; every parameter must reach the pipeline. The fixture
// ControlNet is installed as `canny` in a temporary models dir; super_resolution uses the slim ESRGAN
// (ATELIER_SR_MODEL=slim, read by the generation thread).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { controlnetDir } from '../../src/engine/conditioning.ts';
import type { SdGenerator } from '../../src/engine/sd-generator.ts';
import { nowIso } from '../../src/store/db.ts';
import { insertTune } from '../../src/store/tunes.ts';
import { type Harness, multipart } from '../api/helpers.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { finishedPrompt, type SdHarness, sdHarness } from '../helpers/sd-harness.ts';

const BASE_TUNE = 690204;
let sd: SdHarness;
let h: Harness;
let generator: SdGenerator;
let loraTuneId: number;
let controlModels: string;
const previousSr = process.env.ATELIER_SR_MODEL;

before(async () => {
  process.env.ATELIER_SR_MODEL = 'slim'; // before the thread starts: a worker copies the environment
  controlModels = mkdtempSync(join(tmpdir(), 'atelier-e2e-cn-'));
  mkdirSync(controlnetDir(controlModels, 'canny'), { recursive: true });
  symlinkSync(
    fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors'),
    join(controlnetDir(controlModels, 'canny'), 'canny.safetensors'),
  );
  sd = await sdHarness({ baseTune: BASE_TUNE, name: 'tiny-sd15', defaultSteps: 3, modelsDir: controlModels });
  h = sd.h;
  generator = sd.generator;
  // a trained LoRA tune of account A on that base model, its weights the kohya fixture file
  const now = nowIso();
  const lora = await insertTune(h.rt.svc.db, {
    account_id: 1,
    presentation: 'native',
    title: 'lora',
    name: 'man',
    token: 'ohwx',
    branch: 'sd15',
    model_type: 'lora',
    base_tune_id: BASE_TUNE,
    characteristics: '{}',
    args: '{}',
    pending_image_urls: '[]',
    status: 'trained',
    progress: 1,
    trained_at: now,
    created_at: now,
    updated_at: now,
  });
  loraTuneId = lora.id;
  await h.rt.svc.blobs.put(
    `tunes/${lora.id}/weights.safetensors`,
    readFileSync(fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors')),
  );
});

after(async () => {
  await sd.close();
  rmSync(controlModels, { recursive: true, force: true });
  if (previousSr === undefined) delete process.env.ATELIER_SR_MODEL;
  else process.env.ATELIER_SR_MODEL = previousSr;
});

const completedPrompt = finishedPrompt;

interface Generated {
  prompt: {
    seed: number;
    status: string;
    images: (string | { url: string })[];
    steps: number | null;
    scheduler: string | null;
  };
  images: Buffer[];
}

async function generate(params: Record<string, unknown>, tune = BASE_TUNE): Promise<Generated> {
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tune}/prompts`,
    payload: {
      prompt: { text: 'a photo of an astronaut', w: 128, h: 128, num_images: 1, steps: 3, ...params },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const prompt = (await completedPrompt(h, `/prompts/${res.json().id}`)) as Generated['prompt'];
  assert.equal(prompt.status, 'completed', JSON.stringify(prompt));
  const images: Buffer[] = [];
  for (const img of prompt.images) {
    const url = new URL(typeof img === 'string' ? img : img.url);
    const got = await h.app.inject({ method: 'GET', url: url.pathname + url.search });
    assert.equal(got.statusCode, 200);
    images.push(got.rawPayload);
  }
  return { prompt: prompt as Generated['prompt'], images };
}

async function pixels(png: Buffer): Promise<Uint8Array> {
  return new Uint8Array(await sharp(png).raw().toBuffer());
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = [await pixels(a), await pixels(b)];
  assert.equal(x.length, y.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
  return s / x.length;
}

test('the same seed reproduces byte-identical images; other seeds differ; the prompt records the seed', async () => {
  const a = await generate({ seed: 11 });
  const b = await generate({ seed: 11 });
  const c = await generate({ seed: 12 });
  assert.equal(a.prompt.seed, 11);
  assert.deepEqual(a.images[0], b.images[0]);
  assert.ok((await meanAbsDiff(a.images[0], c.images[0])) > 1);
});

test('w/h are honoured and num_images images come back, image i seeded seed + i', async () => {
  const r = await generate({ seed: 5, w: 64, h: 128, num_images: 3 });
  assert.equal(r.images.length, 3);
  for (const img of r.images) {
    const meta = await sharp(img).metadata();
    assert.deepEqual([meta.width, meta.height], [64, 128]);
  }
  assert.ok((await meanAbsDiff(r.images[0], r.images[1])) > 1);
  // image 1 of seed 5 is image 0 of seed 6
  const single = await generate({ seed: 6, w: 64, h: 128, num_images: 1 });
  assert.deepEqual(await pixels(single.images[0]), await pixels(r.images[1]));
});

test('aspect_ratio gives the native-area size (16:9 -> 680x384, generated on a 64-multiple canvas and cropped)', async () => {
  const r = await generate({ seed: 2, w: undefined, h: undefined, aspect_ratio: '16:9', steps: 1 });
  const meta = await sharp(r.images[0]).metadata();
  assert.deepEqual([meta.width, meta.height], [680, 384]);
});

test('negative_prompt, cfg_scale, scheduler and steps change the result', async () => {
  const base = await generate({ seed: 3, cfg_scale: 7.5 });
  const neg = await generate({ seed: 3, cfg_scale: 7.5, negative_prompt: 'blurry, low quality' });
  const cfg = await generate({ seed: 3, cfg_scale: 1 });
  const sched = await generate({ seed: 3, cfg_scale: 7.5, scheduler: 'dpm++2m' });
  const steps = await generate({ seed: 3, cfg_scale: 7.5, steps: 5 });
  for (const [what, other] of Object.entries({ neg, cfg, sched, steps }))
    assert.ok((await meanAbsDiff(base.images[0], other.images[0])) > 0.5, what);
});

test('a LoRA changes the image in proportion to its scale', async () => {
  const text = 'a photo of an astronaut';
  const none = await generate({ seed: 8, text });
  const small = await generate({ seed: 8, text: `${text} <lora:${loraTuneId}:0.05>` });
  const twice = await generate({ seed: 8, text: `${text} <lora:${loraTuneId}:0.1>` });
  const scaled = await generate({ seed: 8, text: `${text} <lora:${loraTuneId}:0.2>`, lora_scale: 0.5 });
  const d1 = await meanAbsDiff(none.images[0], small.images[0]);
  const d2 = await meanAbsDiff(none.images[0], twice.images[0]);
  // small scales: the change is close to linear in the scale (twice the scale, about twice the change)
  assert.ok(d1 > 0.2, `LoRA at 0.05 changed the image by ${d1}`);
  assert.ok(d2 / d1 > 1.6 && d2 / d1 < 2.4, `0.05 -> ${d1}, 0.1 -> ${d2}`);
  // lora_scale multiplies the tag weight: 0.2 x 0.5 is the same LoRA set as 0.1
  assert.deepEqual(await pixels(scaled.images[0]), await pixels(twice.images[0]));
});

test('img2img (input_image_base64, denoising_strength) and inpainting (input_image + mask_image files)', async () => {
  const solid = (color: string, size = 128) =>
    sharp({ create: { width: size, height: size, channels: 3, background: color } })
      .png()
      .toBuffer();
  const src = await solid('#c83c1e');
  const mask = await sharp(await solid('#000000'))
    .composite([{ input: await solid('#ffffff', 64), left: 32, top: 32 }])
    .png()
    .toBuffer();
  const b64 = `data:image/png;base64,${src.toString('base64')}`;
  const low = await generate({ seed: 4, input_image_base64: b64, denoising_strength: 0.25, steps: 4 });
  const high = await generate({ seed: 4, input_image_base64: b64, denoising_strength: 1, steps: 4 });
  assert.ok(
    (await meanAbsDiff(src, low.images[0])) < (await meanAbsDiff(src, high.images[0])),
    'more strength moves further from the input',
  );
  const body = await multipart([
    ['prompt[text]', 'a photo of an astronaut'],
    ['prompt[w]', '128'],
    ['prompt[h]', '128'],
    ['prompt[num_images]', '1'],
    ['prompt[steps]', '4'],
    ['prompt[seed]', '4'],
    ['prompt[denoising_strength]', '0.5'],
    ['prompt[input_image]', { data: src }],
    ['prompt[mask_image]', { data: mask }],
  ]);
  const res = await h.req({ method: 'POST', url: `/tunes/${BASE_TUNE}/prompts`, ...body });
  assert.equal(res.statusCode, 201, res.body);
  const p = await completedPrompt(h, `/prompts/${res.json().id}`);
  assert.equal(p.status, 'completed', JSON.stringify(p));
  const first = (p as Generated['prompt']).images[0];
  const url = new URL(typeof first === 'string' ? first : first.url);
  const painted = (await h.app.inject({ method: 'GET', url: url.pathname + url.search })).rawPayload;
  // outside the mask the input survives better than inside it
  const [a, b] = [await pixels(painted), await pixels(src)];
  let inside = 0;
  let outside = 0;
  for (let y = 0; y < 128; y++)
    for (let x = 0; x < 128; x++)
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(a[(y * 128 + x) * 3 + c] - b[(y * 128 + x) * 3 + c]);
        if (x >= 40 && x < 88 && y >= 40 && y < 88) inside += d;
        else if (x < 24 || x >= 104 || y < 24 || y >= 104) outside += d;
      }
  const insideMean = inside / (48 * 48 * 3);
  const outsideMean = outside / (128 * 128 * 3 - 80 * 80 * 3);
  assert.ok(insideMean > outsideMean, `inside ${insideMean}, outside ${outsideMean}`);
});

test('parameters the engine cannot honour are rejected (422) naming what is missing, never ignored', async () => {
  const img = `data:image/png;base64,${(await disc()).toString('base64')}`;
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [
      { controlnet: 'depth', input_image_base64: img },
      'controlnet',
      /depth.*not installed; install .*control_v11f1p_sd15_depth/,
    ],
    [
      { controlnet: 'ipadapter', input_image_base64: img },
      'controlnet',
      /the adapter ip-adapter_sd15\.safetensors is not installed; .*install ip-adapter_sd15\.safetensors .*image_encoder/,
    ],
    [{ hires_fix: true }, 'hires_fix', /requires super_resolution/],
    [{ inpaint_faces: true }, 'inpaint_faces', /requires super_resolution/],
    [{ face_swap: true }, 'face_swap', /face_swap needs .*faces\/swap\.onnx.*faces\/arcface\.onnx/],
  ];
  for (const [extra, field, why] of cases) {
    const res = await h.req({
      method: 'POST',
      url: `/tunes/${BASE_TUNE}/prompts`,
      payload: { prompt: { text: 'x', w: 128, h: 128, ...extra } },
    });
    assert.equal(res.statusCode, 422, `${JSON.stringify(extra)}: ${res.body}`);
    assert.match(JSON.stringify(res.json()), new RegExp(field), res.body);
    assert.match(res.body, why);
  }
  // a mask with controlnet (multipart: files)
  const body = await multipart([
    ['prompt[text]', 'x'],
    ['prompt[controlnet]', 'canny'],
    ['prompt[input_image]', { data: await disc() }],
    ['prompt[mask_image]', { data: await disc() }],
  ]);
  const res = await h.req({ method: 'POST', url: `/tunes/${BASE_TUNE}/prompts`, ...body });
  assert.equal(res.statusCode, 422, res.body);
  assert.match(res.body, /mask cannot be combined with controlnet/);
});

/** 128 x 128 PNG with hard edges (a bright disc on a gradient) so canny finds something. */
function disc(n = 128): Promise<Buffer> {
  const px = Buffer.alloc(n * n * 3);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const inDisc = (x - n / 2) ** 2 + (y - n / 2) ** 2 < (n / 4) ** 2;
      const o = (y * n + x) * 3;
      px[o] = inDisc ? 240 : (x * 255) / n;
      px[o + 1] = inDisc ? 230 : 80;
      px[o + 2] = inDisc ? 50 : (y * 255) / n;
    }
  return sharp(px, { raw: { width: n, height: n, channels: 3 } })
    .png()
    .toBuffer();
}

test('controlnet canny through the API: the installed type runs, both modes, and changes the image', async () => {
  const img = `data:image/png;base64,${(await disc()).toString('base64')}`;
  const plain = await generate({ seed: 21 });
  const txt = await generate({
    seed: 21,
    input_image_base64: img,
    controlnet: 'canny',
    controlnet_txt2img: true,
  });
  const again = await generate({
    seed: 21,
    input_image_base64: img,
    controlnet: 'canny',
    controlnet_txt2img: true,
  });
  assert.deepEqual(txt.images[0], again.images[0]);
  assert.ok((await meanAbsDiff(plain.images[0], txt.images[0])) > 0.5, 'control changes the image');
  const zero = await generate({
    seed: 21,
    input_image_base64: img,
    controlnet: 'canny',
    controlnet_txt2img: true,
    controlnet_conditioning_scale: 0,
  });
  assert.ok((await meanAbsDiff(plain.images[0], zero.images[0])) < 0.5, 'scale 0 = no control');
  const i2i = await generate({
    seed: 21,
    input_image_base64: img,
    controlnet: 'canny',
    denoising_strength: 0.6,
  });
  const meta = await sharp(i2i.images[0]).metadata();
  assert.deepEqual([meta.width, meta.height], [128, 128]);
});

test('color_grading and film_grain run on the real branch: deterministic, each changes the image', async () => {
  const base = await generate({ seed: 31 });
  const graded = await generate({ seed: 31, color_grading: 'Ektar' });
  const both = await generate({ seed: 31, color_grading: 'Ektar', film_grain: true });
  const again = await generate({ seed: 31, color_grading: 'Ektar', film_grain: true });
  assert.deepEqual(both.images[0], again.images[0]);
  assert.ok((await meanAbsDiff(base.images[0], graded.images[0])) > 1, 'grading');
  assert.ok((await meanAbsDiff(graded.images[0], both.images[0])) > 0.3, 'grain');
});

test('super_resolution (slim ESRGAN) gives 4x the size', async () => {
  const r = await generate({ seed: 32, w: 64, h: 64, super_resolution: true });
  const meta = await sharp(r.images[0]).metadata();
  assert.deepEqual([meta.width, meta.height], [256, 256]);
});

test('blank steps and scheduler reach the model as its own defaults; the prompt shows what ran', async () => {
  // `models add ... --default-sampler euler --default-steps 3`
  const r = await generate({ seed: 33, steps: undefined });
  assert.equal(r.prompt.steps, 3);
  assert.equal(r.prompt.scheduler, 'euler');
  const zero = await generate({ seed: 33, steps: 0 });
  assert.equal(zero.prompt.steps, 3);
  assert.deepEqual(zero.images[0], r.images[0]);
  const explicit = await generate({ seed: 33, steps: 3, scheduler: 'euler' });
  assert.deepEqual(explicit.images[0], r.images[0]);
});

test('every prompt above ran on one load of the base model (sessions reused, LoRA sets cached)', async () => {
  const s = await generator.stats();
  assert.equal(s.baseLoads, 1);
  assert.equal(s.loraLoads, 2); // scales 0.05 and 0.1
  assert.equal(s.evictions, 0);
});
