// Real branches: whatever the installed implementation cannot do is a 422 naming what is missing (never accepted
// and silently dropped). Uses a stand-in "real" generator/trainer that declares limited capabilities.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type {
  GenerationRequest,
  Generator,
  GeneratorCapabilities,
  Trainer,
  TrainingRequest,
} from '../../src/domain/ports.ts';
import { FastMockGenerator } from '../../src/jobs/fast-generator.ts';
import { FastTrainer } from '../../src/train/fast.ts';
import { completedPrompt, dataUrl, type Harness, harness, waitFor } from './helpers.ts';

class LimitedGenerator implements Generator {
  readonly name = 'limited-sd15';
  seen: GenerationRequest[] = [];
  capabilities(): GeneratorCapabilities {
    return {
      branches: ['sd15'],
      schedulers: ['euler', 'euler_a'],
      controlnets: [],
      features: ['negative_prompt', 'cfg_scale', 'steps', 'use_lpw'],
      featureReasons: { face_swap: 'face_swap needs a swap network at /models/faces/swap.onnx' },
      mock: false,
    };
  }
  async generate(req: GenerationRequest) {
    this.seen.push(req);
    const { images } = await new FastMockGenerator().generate(req, { signal: new AbortController().signal });
    return { images, notes: [] };
  }
}

class Sd15Trainer implements Trainer {
  readonly name = 'sd15-lora';
  capabilities() {
    return { branches: ['sd15'], modelTypes: ['lora'], mock: false };
  }
  async train(_req: TrainingRequest) {
    return { weights: Buffer.from('weights'), notes: [] };
  }
}

let h: Harness;
const gen = new LimitedGenerator();
let tuneId: number;
before(async () => {
  h = await harness(
    {},
    {
      engines: {
        generators: [gen, new FastMockGenerator()],
        trainers: [new Sd15Trainer(), new FastTrainer(10)],
      },
    },
  );
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'real', name: 'man', branch: 'sd15', images } },
  });
  assert.equal(r.statusCode, 201, r.body);
  tuneId = r.json().id;
  await waitFor(
    async () => (await h.req({ method: 'GET', url: `/tunes/${tuneId}` })).json().trained_at,
    'trained',
  );
});
after(() => h.close());

test('a branch with no trainer installed is a 422 naming the branch', async () => {
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'x', name: 'man', branch: 'sdxl1', images: [await dataUrl()] } },
  });
  assert.equal(r.statusCode, 422);
  assert.match(r.json().errors.branch[0], /sdxl1/);
  const mt = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: 'y', name: 'man', branch: 'sd15', model_type: 'faceid', images: [await dataUrl()] },
    },
  });
  assert.equal(mt.statusCode, 422);
  assert.match(mt.json().errors.branch[0], /faceid/);
});

test('unsupported prompt parameters on a real branch are 422s naming each one', async () => {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: {
      prompt: {
        text: 'ohwx man',
        super_resolution: true,
        face_correct: true,
        scheduler: 'lcm',
        film_grain: false,
      },
    },
  });
  assert.equal(r.statusCode, 422, r.body);
  const errors = r.json().errors;
  assert.deepEqual(Object.keys(errors).sort(), ['face_correct', 'scheduler', 'super_resolution']);
  assert.match(errors.scheduler[0], /lcm/);
  assert.match(errors.super_resolution[0], /limited-sd15/);
});

test('supported parameters pass through to the generator fully resolved', async () => {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: {
      prompt: {
        text: 'ohwx man',
        scheduler: 'euler_a',
        cfg_scale: 5,
        steps: 12,
        num_images: 1,
        style: 'Cinematic',
        negative_prompt: 'blur',
      },
    },
  });
  assert.equal(r.statusCode, 201, r.body);
  const p = await completedPrompt(h, `/prompts/${r.json().id}`);
  assert.equal(p.status, 'completed');
  assert.deepEqual(p.notes, [], 'a real generator leaves no mock notes');
  const req = gen.seen.at(-1)!;
  assert.equal(req.scheduler, 'euler_a');
  assert.equal(req.cfgScale, 5);
  assert.equal(req.steps, 12);
  assert.equal(req.width, 512);
  assert.match(req.text, /^cinematic film still of ohwx man/);
  assert.match(req.negativePrompt, /^blur, /);
  assert.equal(
    await h.rt.svc.blobs.get(`tunes/${tuneId}/weights.safetensors`).then((b) => b?.toString()),
    'weights',
  );
});

test('tune fields the real trainer cannot honour are 422s; in fast mode they are recorded as notes', async () => {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const real = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'fc', name: 'man', branch: 'sd15', face_crop: true, steps: 300 }, images },
  });
  assert.equal(real.statusCode, 422, real.body);
  assert.deepEqual(Object.keys(real.json().errors), ['face_crop']);
  assert.match(real.json().errors.face_crop[0], /sd15-lora/);
  const off = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'fc-off', name: 'man', branch: 'sd15', face_crop: false }, images },
  });
  assert.equal(off.statusCode, 201, 'false asks for nothing');
  const mock = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: 'fc-mock', name: 'man', branch: 'fast', face_crop: true, preset: 'flux-lora-portrait' },
      images,
    },
  });
  assert.equal(mock.statusCode, 201, mock.body);
  // Recorded with the tune (args.notes); the API shows them once the OpenAPI Tune schema lists `notes`.
  const row = await h.rt.svc.db
    .selectFrom('tunes')
    .select('args')
    .where('id', '=', mock.json().id)
    .executeTakeFirstOrThrow();
  assert.deepEqual(JSON.parse(row.args).notes.sort(), [
    'mock: face_crop recorded, not applied',
    'mock: preset recorded, not applied',
  ]);
  assert.equal(mock.json().face_crop, true);
});

test("a feature the engine lacks is a 422 with the engine's own reason (what to install) when it gives one", async () => {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: { prompt: { text: 'ohwx man', face_swap: true } },
  });
  assert.equal(r.statusCode, 422, r.body);
  assert.deepEqual(r.json().errors, {
    face_swap: ['face_swap needs a swap network at /models/faces/swap.onnx (branch sd15, limited-sd15)'],
  });
});

test('prompt fields unknown to the engine (pack_id, resolution) are refused on a real branch', async () => {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: { prompt: { text: 'ohwx man', pack_id: 12, resolution: '2K' } },
  });
  assert.equal(r.statusCode, 422);
  assert.deepEqual(Object.keys(r.json().errors).sort(), ['pack_id', 'resolution']);
});
