// SdGenerator: capabilities, progress phases, cancellation between steps, steps 0 = the model's default, LoRA
// resolution rules.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { GenerationRequest } from '../../../../src/domain/ports.ts';
import { ModelManager } from '../../../../src/engine/model-manager.ts';
import { cropCentre } from '../../../../src/engine/pipeline/images.ts';
import { canvasSize, promptTextOf, SdGenerator } from '../../../../src/engine/sd-generator.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { generationRequest } from '../../../helpers/generation-request.ts';
import { GRAPH_CACHE } from './helpers.ts';

const manager = new ModelManager({ cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } });
after(() => manager.close());
const lorasAvailable = new Set<number>([7]);
const gen = new SdGenerator(manager, {
  baseModel: async () => ({
    key: 'tiny',
    path: fixturePath('sd-reference', 'model'),
    tokenizerDir: fixturePath('clip-tokenizer'),
    defaultSteps: 2,
    defaultSampler: 'euler_a',
  }),
  loraFile: async (id) =>
    lorasAvailable.has(id)
      ? { id: `lora-${id}`, path: fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors') }
      : null,
});

function request(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return generationRequest({ steps: 3, ...over });
}

test('capabilities: sd15 and sd21, every API scheduler, no ControlNet without a models dir, the post stages, not a mock', () => {
  const c = gen.capabilities();
  assert.deepEqual(c.branches, ['sd15', 'sd21']);
  assert.equal(c.schedulers.length, 8);
  assert.deepEqual(c.controlnets, []);
  assert.equal(c.mock, false);
  for (const f of [
    'super_resolution',
    'hires_fix',
    'inpaint_faces',
    'face_correct',
    'color_grading',
    'film_grain',
  ])
    assert.ok(c.features.includes(f), f);
  for (const f of ['face_swap', 'backend_version']) assert.ok(!c.features.includes(f), f);
});

test('progress goes loading, encoding, denoising 1..n, decoding; steps 0 uses the model default', async () => {
  const events: string[] = [];
  const r = await gen.generate(request({ steps: 0 }), {
    signal: new AbortController().signal,
    onProgress: (e) => events.push(`${e.phase} ${e.step}/${e.total}`),
  });
  assert.deepEqual(events, ['loading 1/1', 'encoding 1/1', 'denoising 1/2', 'denoising 2/2', 'decoding 1/1']);
  assert.equal(r.images.length, 1);
  assert.equal(r.images[0].contentType, 'image/jpeg');
  // what ran is reported: the model's 2 steps, the request's scheduler and guidance scale
  assert.deepEqual(r.resolved, { steps: 2, scheduler: 'euler', cfgScale: 7.5 });
});

test('no scheduler = the model default, reported in resolved', async () => {
  const r = await gen.generate(request({ steps: 0, scheduler: null }), {
    signal: new AbortController().signal,
  });
  assert.equal(r.resolved?.steps, 2);
  assert.equal(r.resolved?.scheduler, 'euler_a');
});

test('cancellation between steps rejects with the abort reason and produces nothing', async () => {
  const ac = new AbortController();
  const events: string[] = [];
  await assert.rejects(
    gen.generate(request({ steps: 4 }), {
      signal: ac.signal,
      onProgress: (e) => {
        events.push(`${e.phase} ${e.step}`);
        if (e.phase === 'denoising' && e.step === 1) ac.abort(new Error('cancelled by user'));
      },
    }),
    /cancelled by user/,
  );
  assert.deepEqual(
    events.filter((e) => e.startsWith('denoising')),
    ['denoising 1'],
  );
});

test('LoRA tags: weights times lora_scale; a LoRA tune prompt applies its own weights; a tag without weights fails', async () => {
  assert.deepEqual(
    (await gen.lorasOf(request({ loras: [{ tuneId: 7, weight: 0.8 }], loraScale: 0.5 }))).map((l) => [
      l.id,
      l.scale,
    ]),
    [['lora-7', 0.4]],
  );
  assert.deepEqual(
    (
      await gen.lorasOf(
        request({
          tune: { id: 7, branch: 'sd15', modelType: 'lora', token: 'ohwx', name: 'man', weightsKey: null },
        }),
      )
    ).map((l) => [l.id, l.scale]),
    [['lora-7', 1]],
  );
  await assert.rejects(
    gen.lorasOf(request({ loras: [{ tuneId: 9, weight: 1 }] })),
    /tune 9 has no LoRA weights/,
  );
  assert.equal(promptTextOf('a <lora:7:0.5> photo of <faceid:3:1> ohwx'), 'a photo of ohwx');
});

test('sizes the UNet cannot take are generated on the next multiple of 64 and centre-cropped', () => {
  assert.deepEqual(canvasSize(680, 384), { width: 704, height: 384 });
  assert.deepEqual(canvasSize(512, 512), { width: 512, height: 512 });
  // 4x2 RGB image, pixel value = x + 10 y; centre 2x2 window
  const rgb = new Uint8Array(4 * 2 * 3);
  for (let y = 0; y < 2; y++)
    for (let x = 0; x < 4; x++) rgb.fill(x + 10 * y, (y * 4 + x) * 3, (y * 4 + x + 1) * 3);
  assert.deepEqual(
    [...cropCentre(rgb, 4, 2, 2, 2)].filter((_, i) => i % 3 === 0),
    [1, 2, 11, 12],
  );
});
