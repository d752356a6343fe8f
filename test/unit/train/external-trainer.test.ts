import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { ProgressEvent, TrainingRequest } from '../../../src/domain/ports.ts';
import {
  ExternalTrainer,
  ExternalTrainerError,
  parseProgressLine,
} from '../../../src/train/external-trainer.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-external-trainer-'));
after(() => rmSync(root, { recursive: true, force: true }));
const script = fileURLToPath(new URL('./fake-external-trainer.mjs', import.meta.url));

async function request(tuneId: number, count = 4): Promise<TrainingRequest> {
  const data = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#4080c0' } })
    .jpeg()
    .toBuffer();
  return {
    tuneId,
    branch: 'sd15',
    modelType: 'lora',
    token: 'ohwx',
    name: 'dog',
    steps: 5,
    faceCrop: false,
    trainingFaceCorrect: false,
    baseTuneId: null,
    images: Array.from({ length: count }, () => ({ data, format: 'jpeg', width: 32, height: 24 })),
  };
}

const trainer = (mode: string, workDir = root) =>
  new ExternalTrainer({
    command: process.execPath,
    args: [script, '{config}'],
    workDir,
    env: { FAKE_TRAINER_MODE: mode },
    baseModel: '/models/sd15',
    killGraceMs: 200,
  });

describe('ExternalTrainer', () => {
  it('parses the progress protocol', () => {
    assert.deepEqual(parseProgressLine('progress 3/10 loss=0.125'), { step: 3, total: 10, loss: 0.125 });
    assert.deepEqual(parseProgressLine('  progress 1 / 2'), { step: 1, total: 2, loss: Number.NaN });
    assert.equal(parseProgressLine('epoch 1 done'), undefined);
  });

  it('writes the dataset and config, streams progress and imports the LoRA', async () => {
    const events: ProgressEvent[] = [];
    const r = await trainer('ok').train(await request(1), {
      signal: new AbortController().signal,
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(
      events.map((e) => [e.step, e.total, (e as ProgressEvent & { loss: number }).loss]),
      [1, 2, 3, 4, 5].map((s) => [s, 5, Number((1 / s).toFixed(4))]),
    );
    assert.ok(r.weights && r.weights.length > 8);
    assert.match(r.notes[0], /final loss 0.2/);
    const files = readdirSync(join(root, 'tune-1', 'dataset')).sort();
    assert.equal(files.length, 8);
    assert.ok(files.includes('image_01.png') && files.includes('image_04.txt'));
  });

  it('rejects a bad image count before running anything', async () => {
    await assert.rejects(
      trainer('ok').train(await request(2, 3), { signal: new AbortController().signal }),
      /4 to 20/,
    );
    assert.ok(!existsSync(join(root, 'tune-2', 'config.json')));
  });

  it('a failing command becomes an error with its last output', async () => {
    await assert.rejects(
      trainer('fail').train(await request(3), { signal: new AbortController().signal }),
      (e: Error) =>
        e instanceof ExternalTrainerError &&
        /exited with 3/.test(e.message) &&
        /out of memory/.test(e.message),
    );
  });

  it('a command that writes no LoRA fails the job', async () => {
    await assert.rejects(
      trainer('no-output').train(await request(4), { signal: new AbortController().signal }),
      ExternalTrainerError,
    );
  });

  it('cancellation kills the command', async () => {
    const abort = new AbortController();
    await assert.rejects(
      trainer('hang').train(await request(5), {
        signal: abort.signal,
        onProgress: () => abort.abort(new Error('cancelled by user')),
      }),
      /cancelled by user/,
    );
  });
});
