// The built-in LoRA trainer end to end on the tiny fixture model: synthetic photos in, a kohya LoRA out;
// the loss goes down, a fixed seed reproduces the run, a killed run resumes from its checkpoint, and the
// trained LoRA denoises its own training images better than the base model.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import type { ProgressEvent, TrainingImage, TrainingRequest } from '../../../src/domain/ports.ts';
import { SafetensorsFile } from '../../../src/engine/checkpoint/safetensors.ts';
import { TrainingInputError } from '../../../src/train/dataset.ts';
import {
  LoraTrainer,
  type LoraTrainerOptions,
  type TrainingProgress,
} from '../../../src/train/lora-trainer.ts';
import { fixturePath } from '../../helpers/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-lora-trainer-'));
const cacheDir = join(root, 'cache');

/** A 160x128 "photo": a coloured disc on a gradient, position and colour varying with `k`. */
async function syntheticPhoto(k: number): Promise<TrainingImage> {
  const w = 160;
  const h = 128;
  const px = Buffer.alloc(w * h * 3);
  const cx = 50 + 15 * k;
  const cy = 60 + 5 * k;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < 30 ** 2;
      const o = (y * w + x) * 3;
      px[o] = inside ? 220 : (x * 255) / w;
      px[o + 1] = inside ? 40 + 30 * k : (y * 255) / h;
      px[o + 2] = inside ? 60 : 128;
    }
  const data = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
  return { data, format: 'png', width: w, height: h };
}

async function request(tuneId: number, steps: number, count = 4): Promise<TrainingRequest> {
  return {
    tuneId,
    branch: 'sd15',
    modelType: 'lora',
    token: 'ohwx',
    name: 'disc',
    steps,
    faceCrop: false,
    trainingFaceCorrect: false,
    baseTuneId: null,
    images: await Promise.all(Array.from({ length: count }, (_, k) => syntheticPhoto(k))),
  };
}

const options = (workDir: string): LoraTrainerOptions => ({
  baseModel: {
    key: 'tiny-sd15',
    path: fixturePath('sd-reference', 'model'),
    tokenizerDir: fixturePath('clip-tokenizer'),
  },
  workDir,
  cacheDir,
  rank: 4,
  alpha: 4,
  learningRate: 1e-2,
  schedule: 'cosine',
  warmupFraction: 0.1,
  checkpointEvery: 5,
  seed: 7,
  keepSessions: true,
});

const noSignal = () => new AbortController().signal;

describe('LoraTrainer on the tiny SD 1.5 fixture', () => {
  const trainer = new LoraTrainer(options(join(root, 'work-a')));
  after(async () => {
    await trainer.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('declares the sd15 lora capability and derives default steps from the image count', async () => {
    assert.deepEqual(trainer.capabilities(), {
      branches: ['sd15'],
      modelTypes: ['lora'],
      features: ['steps', 'face_crop'],
      mock: false,
    });
    assert.equal(trainer.stepsFor({ steps: 0, images: new Array(4) }), 400);
    assert.equal(trainer.stepsFor({ steps: 0, images: new Array(20) }), 1500);
    assert.equal(trainer.stepsFor({ steps: 37, images: new Array(20) }), 37);
  });

  it('rejects fewer than 4 images', async () => {
    await assert.rejects(trainer.train(await request(1, 5, 3), { signal: noSignal() }), TrainingInputError);
  });

  it('uses the base model of base_tune_id when the resolver knows it', async () => {
    const fixture = options('').baseModel;
    const t = new LoraTrainer({
      ...options(join(root, 'work-r')),
      baseModel: { key: 'missing', path: join(root, 'no-such-model') },
      resolveBaseModel: (id) => (id === 99 ? fixture : undefined),
    });
    const few = { ...(await request(3, 5, 3)), baseTuneId: 99 };
    // the fixture model opens, so the request gets as far as the image-count check
    await assert.rejects(t.train(few, { signal: noSignal() }), TrainingInputError);
    await assert.rejects(t.train({ ...few, baseTuneId: 98 }, { signal: noSignal() }), /checkpoint not found/);
  });

  let trainedPath = '';
  let trainedBytes: Buffer;
  const req = request(10, 40);

  it('trains: progress every step, loss goes down, kohya LoRA out', async (t) => {
    const events: TrainingProgress[] = [];
    const result = await trainer.train(await req, {
      signal: noSignal(),
      onProgress: (e: ProgressEvent) => events.push(e as TrainingProgress),
    });
    assert.deepEqual(
      events.map((e) => e.step),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.ok(events.every((e) => e.phase === 'training' && e.total === 40 && Number.isFinite(e.loss)));
    assert.ok(events.every((e) => e.etaSeconds >= 0));
    const mean = (xs: TrainingProgress[]) => xs.reduce((a, e) => a + e.loss, 0) / xs.length;
    const early = mean(events.slice(0, 10));
    const late = mean(events.slice(-10));
    t.diagnostic(JSON.stringify({ early, late, notes: result.notes }));
    assert.ok(late < early, `mean loss of the last 10 steps ${late} not below the first 10 ${early}`);

    assert.ok(result.weights);
    trainedBytes = result.weights;
    trainedPath = join(root, 'trained.safetensors');
    writeFileSync(trainedPath, trainedBytes);
    const file = SafetensorsFile.open(trainedPath);
    try {
      const keys = [...file.tensors.keys()];
      assert.equal(keys.length, 128 * 3);
      const p = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
      assert.deepEqual(file.tensors.get(`${p}.lora_down.weight`)?.shape, [4, 32]);
      assert.deepEqual(file.tensors.get(`${p}.lora_up.weight`)?.shape, [32, 4]);
      assert.deepEqual(file.tensors.get(`${p}.alpha`)?.shape, []);
      assert.equal(file.readFloat32(`${p}.alpha`)[0], 4);
      assert.ok(
        file.readFloat32(`${p}.lora_up.weight`).some((v) => v !== 0),
        'up matrices were trained',
      );
    } finally {
      file.close();
    }
  });

  it('reproduces the same weights for the same seed', async () => {
    const again = new LoraTrainer(options(join(root, 'work-b')));
    const r = await again.train(await req, { signal: noSignal() });
    await again.dispose();
    assert.ok(r.weights?.equals(trainedBytes), 'a second run with the same seed gives identical bytes');
  });

  it('a killed run resumes from its last checkpoint and ends with the same weights', async () => {
    const workDir = join(root, 'work-c');
    const first = new LoraTrainer(options(workDir));
    const abort = new AbortController();
    await assert.rejects(
      first.train(await req, {
        signal: abort.signal,
        onProgress: (e) => {
          if (e.step === 13) abort.abort(new Error('worker killed'));
        },
      }),
      /worker killed/,
    );
    await first.dispose();
    const steps: number[] = [];
    const second = new LoraTrainer(options(workDir));
    const r = await second.train(await req, { signal: noSignal(), onProgress: (e) => steps.push(e.step) });
    await second.dispose();
    assert.equal(steps[0], 11, 'resumes after the checkpoint of step 10');
    assert.ok(r.notes[0].includes('resumed at step 10'));
    assert.ok(r.weights?.equals(trainedBytes), 'same result as the uninterrupted run');
  });

  it('denoises its own training images clearly better than the base model', async (t) => {
    const base = await trainer.denoisingLoss(await req);
    const trained = await trainer.denoisingLoss(await req, trainedPath);
    t.diagnostic(JSON.stringify({ base, trained, ratio: trained / base }));
    assert.ok(trained < 0.9 * base, `trained loss ${trained} vs base ${base}`);
  });
});
