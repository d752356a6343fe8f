// Validation of every prompt field of the seed's tables: accepted edges, rejected values, cross-field rules, the
// trigger word, string coercion, and the API.md §5 error format.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { form, type Harness, harness, multipart, trainedTune } from './helpers.ts';

let h: Harness;
let tuneId: number;
before(async () => {
  h = await harness();
  tuneId = (await trainedTune(h)).id;
});
after(() => h.close());

const post = (prompt: Record<string, unknown>) =>
  h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: { prompt: { text: 'ohwx man', ...prompt } },
  });

async function rejects(prompt: Record<string, unknown>, field: string, status = 422) {
  const res = await post(prompt);
  assert.equal(res.statusCode, status, `${JSON.stringify(prompt)} → ${res.body}`);
  const body = res.json();
  assert.equal(typeof body.error, 'string');
  assert.ok(body.errors?.[field]?.length, `errors.${field} in ${res.body}`);
  assert.match(res.headers['content-type'] as string, /application\/json/);
  return body;
}
async function accepts(prompt: Record<string, unknown>) {
  const res = await post(prompt);
  assert.equal(res.statusCode, 201, `${JSON.stringify(prompt)} → ${res.body}`);
  return res.json();
}

test('num_images: 1 and 8 accepted, 0 and 9 rejected', async () => {
  await accepts({ num_images: 1 });
  await accepts({ num_images: 8 });
  await rejects({ num_images: 0 }, 'num_images');
  await rejects({ num_images: 9 }, 'num_images');
  await rejects({ num_images: 2.5 }, 'num_images');
});

test('cfg_scale: 0 and 15 accepted, -0.1 and 15.1 rejected', async () => {
  await accepts({ cfg_scale: 0 });
  await accepts({ cfg_scale: 15 });
  await rejects({ cfg_scale: -0.1 }, 'cfg_scale');
  await rejects({ cfg_scale: 15.1 }, 'cfg_scale');
});

test('steps 0–50, seed 0–2^32−1', async () => {
  await accepts({ steps: 0 });
  await accepts({ steps: 50 });
  await rejects({ steps: 51 }, 'steps');
  await accepts({ seed: 0 });
  await accepts({ seed: 2 ** 32 - 1 });
  await rejects({ seed: 2 ** 32 }, 'seed');
  await rejects({ seed: -1 }, 'seed');
});

test('w/h must be multiples of 8', async () => {
  await accepts({ w: 512, h: 768 });
  const body = await rejects({ w: 513 }, 'w');
  assert.match(body.errors.w[0], /multiple of 8/);
  await rejects({ h: 100 }, 'h');
});

test('enums: scheduler, style, color_grading, controlnet, aspect_ratio, backend_version', async () => {
  await accepts({ scheduler: 'dpm++2m_karras' });
  await rejects({ scheduler: 'ddim' }, 'scheduler');
  await accepts({ style: 'Fantasy art' });
  await rejects({ style: 'Vaporwave' }, 'style');
  await accepts({ color_grading: 'Film Portra' });
  await rejects({ color_grading: 'Sepia' }, 'color_grading');
  await rejects({ controlnet: 'openpose', input_image_url: 'https://example.com/a.jpg' }, 'controlnet');
  await accepts({ aspect_ratio: '16:9' });
  await rejects({ aspect_ratio: '7:5' }, 'aspect_ratio');
  await accepts({ backend_version: 1 });
  await accepts({ backend_version: null });
  await rejects({ backend_version: 2 }, 'backend_version');
  await rejects({ denoising_strength: 1.1 }, 'denoising_strength');
  await rejects({ controlnet_conditioning_scale: -0.5 }, 'controlnet_conditioning_scale');
});

test('cross-field rules: inpaint_faces and hires_fix need super_resolution; a mask or controlnet needs an input image', async () => {
  await rejects({ inpaint_faces: true }, 'inpaint_faces');
  await rejects({ hires_fix: 'true' }, 'hires_fix');
  await accepts({ inpaint_faces: true, super_resolution: true });
  await rejects({ mask_image_url: 'https://example.com/m.png' }, 'mask_image');
  await rejects({ controlnet: 'canny' }, 'controlnet');
});

test('text is required and must contain the trigger word, or a <lora:ID> tag naming the tune', async () => {
  const body = await rejects({ text: 'a portrait of a man' }, 'text');
  assert.match(body.errors.text[0], /ohwx/);
  await rejects({ text: '' }, 'text');
  await accepts({ text: 'OHWX man, portrait' });
  await accepts({ text: `portrait <lora:${tuneId}:0.8>` });
  await rejects({ text: 'ohwx man <lora:999999:1>' }, 'text');
  await rejects({ text: 'ohwxman portrait' }, 'text'); // a whole word, not a substring
});

test('url fields must be http(s)', async () => {
  await rejects({ callback: 'ftp://example.com/x' }, 'callback');
  await rejects({ input_image_url: 'javascript:alert(1)' }, 'input_image_url');
});

test('string booleans and numbers are coerced; "" means not given; unknown fields are ignored', async () => {
  const p = await accepts({
    num_images: '2',
    cfg_scale: '7.5',
    super_resolution: 'True',
    face_correct: '1',
    film_grain: 'false',
    callback: '',
    w: '512',
    page: 3,
    expand: ['x'],
  });
  assert.equal(p.num_images, 2);
  assert.equal(p.cfg_scale, 7.5);
  assert.equal(p.super_resolution, true);
  assert.equal(p.face_correct, true);
  assert.equal(p.film_grain, false);
  assert.equal(p.callback, null);
  assert.equal(p.w, 512);
  await rejects({ super_resolution: 'maybe' }, 'super_resolution');
  await rejects({ num_images: 'four' }, 'num_images');
});

test('the same rules apply to multipart and form-urlencoded bodies', async () => {
  const mp = await multipart([
    ['prompt[text]', 'ohwx man'],
    ['prompt[num_images]', '9'],
  ]);
  const r1 = await h.req({ method: 'POST', url: `/tunes/${tuneId}/prompts`, ...mp });
  assert.equal(r1.statusCode, 422);
  assert.ok(r1.json().errors.num_images);
  const r2 = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    ...form([
      ['prompt[text]', 'ohwx man'],
      ['prompt[num_images]', '2'],
      ['prompt[super_resolution]', 'true'],
      ['prompt[inpaint_faces]', 'true'],
    ]),
  });
  assert.equal(r2.statusCode, 201, r2.body);
  assert.equal(r2.json().num_images, 2);
  assert.equal(r2.json().inpaint_faces, true);
});

test('malformed bodies are 400, unsupported content types 415, never a stack trace', async () => {
  const bad = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: '{"prompt": {',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(typeof bad.json().error, 'string');
  assert.ok(!bad.body.includes('    at '), bad.body);
  const xml = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: '<prompt/>',
    headers: { 'content-type': 'application/xml' },
  });
  assert.equal(xml.statusCode, 415);
  const shape = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    ...form([
      ['prompt[text]', 'ohwx man'],
      ['prompt[text][x]', 'conflict'],
    ]),
  });
  assert.equal(shape.statusCode, 400, shape.body);
});

test('tune fields: branch and model_type enums, token pattern, name required', async () => {
  const base = { title: `v-${Math.random()}`, name: 'man', images: ['https://example.com/1.jpg'] };
  const bad = async (tune: Record<string, unknown>, field: string) => {
    const r = await h.req({ method: 'POST', url: '/tunes', payload: { tune: { ...base, ...tune } } });
    assert.equal(r.statusCode, 422, r.body);
    assert.ok(r.json().errors[field], r.body);
  };
  await bad({ branch: 'sd3' }, 'branch');
  await bad({ model_type: 'dreambooth' }, 'model_type');
  await bad({ token: 'oh wx' }, 'token');
  await bad({ name: '' }, 'name');
  await bad({ title: undefined }, 'title');
  await bad({ steps: 0 }, 'steps');
  await bad({ callback: 'not a url' }, 'callback');
});
