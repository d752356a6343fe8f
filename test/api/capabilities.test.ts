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
import { nowIso } from '../../src/store/db.ts';
import { insertTune } from '../../src/store/tunes.ts';
import { FastTrainer } from '../../src/train/fast.ts';
import { completedPrompt, dataUrl, type Harness, harness, waitFor } from './helpers.ts';

const FACEID_MISSING = 'FaceID needs /models/ip-adapter/ip-adapter-faceid_sd15.safetensors';

class LimitedGenerator implements Generator {
  readonly name = 'limited-sd15';
  seen: GenerationRequest[] = [];
  /** a test turns FaceID (and the canny ControlNet) on to check the combinations the engine refuses */
  faceIdInstalled = false;
  capabilities(): GeneratorCapabilities {
    return {
      branches: ['sd15'],
      schedulers: ['euler', 'euler_a'],
      controlnets: this.faceIdInstalled ? ['canny'] : [],
      features: [
        'negative_prompt',
        'cfg_scale',
        'steps',
        'use_lpw',
        ...(this.faceIdInstalled ? ['faceid', 'input_image', 'mask_image'] : []),
      ],
      featureReasons: {
        face_swap: 'face_swap needs a swap network at /models/faces/swap.onnx',
        ...(!this.faceIdInstalled && { faceid: FACEID_MISSING }),
      },
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

/** A trained faceid tune on sd15, stored directly (its identity is never read: every prompt here is refused). */
async function faceIdTune(): Promise<number> {
  const now = nowIso();
  const t = await insertTune(h.rt.svc.db, {
    account_id: 1,
    presentation: 'native',
    title: 'faceid person',
    name: 'person',
    token: 'ohwx',
    branch: 'sd15',
    model_type: 'faceid',
    base_tune_id: null,
    characteristics: '{}',
    args: '{}',
    pending_image_urls: '[]',
    status: 'trained',
    progress: 1,
    trained_at: now,
    created_at: now,
    updated_at: now,
  });
  return t.id;
}

const promptOn = (tune: number, prompt: Record<string, unknown>) =>
  h.req({ method: 'POST', url: `/tunes/${tune}/prompts`, payload: { prompt } });

test('FaceID not installed: a <faceid> tag or a prompt on a faceid tune is a 422 with what to install', async () => {
  const face = await faceIdTune();
  const tagged = await promptOn(tuneId, { text: `ohwx man <faceid:${face}:0.8>` });
  assert.equal(tagged.statusCode, 422, tagged.body);
  assert.deepEqual(tagged.json().errors, { text: [`${FACEID_MISSING} (branch sd15, limited-sd15)`] });
  const own = await promptOn(face, { text: 'ohwx person' });
  assert.equal(own.statusCode, 422, own.body);
  assert.deepEqual(own.json().errors, { tune_id: [`${FACEID_MISSING} (branch sd15, limited-sd15)`] });
});

test('FaceID with a controlnet, a mask or a second identity is a 422 at prompt creation', async () => {
  const [a, b] = [await faceIdTune(), await faceIdTune()];
  gen.faceIdInstalled = true;
  try {
    const input_image_url = 'https://example.com/in.png';
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ text: `ohwx man <faceid:${a}>`, controlnet: 'canny', input_image_url }, 'controlnet', /controlnet/],
      [
        { text: `ohwx man <faceid:${a}>`, input_image_url, mask_image_url: input_image_url },
        'mask_image',
        /mask/,
      ],
      [{ text: `ohwx man <faceid:${a}> <faceid:${b}:0.5>` }, 'text', /one faceid identity per prompt/],
    ];
    for (const [prompt, field, why] of cases) {
      const r = await promptOn(tuneId, prompt);
      assert.equal(r.statusCode, 422, r.body);
      assert.deepEqual(Object.keys(r.json().errors), [field], r.body);
      assert.match(r.json().errors[field][0], why);
    }
    // a prompt on a faceid tune that tags another identity
    const own = await promptOn(a, { text: `ohwx person <faceid:${b}>` });
    assert.equal(own.statusCode, 422, own.body);
    assert.match(own.json().errors.text[0], new RegExp(`tunes ${b}, ${a}|tunes ${a}, ${b}`));
    // the same tune tagged twice is one identity: accepted
    const ok = await promptOn(tuneId, {
      text: `ohwx man <faceid:${a}:0.5> <faceid:${a}:0.5>`,
      num_images: 1,
    });
    assert.equal(ok.statusCode, 201, ok.body);
  } finally {
    gen.faceIdInstalled = false;
  }
});

test('<faceid:ID> naming a tune that is not a faceid tune is a 422', async () => {
  const r = await promptOn(tuneId, { text: `ohwx man <faceid:${tuneId}>` });
  assert.equal(r.statusCode, 422, r.body);
  assert.match(r.json().errors.text[0], /not a faceid tune/);
});
