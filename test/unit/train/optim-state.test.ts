import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AdamW, clipGradNorm } from '../../../src/train/adamw.ts';
import { learningRate } from '../../../src/train/lr-schedule.ts';
import { loadTrainState, saveTrainState } from '../../../src/train/train-state.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-train-state-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('learning-rate schedules', () => {
  const base = { baseLr: 1e-3, warmupSteps: 4, totalSteps: 12 };
  it('constant ignores warmup; constant_with_warmup ramps linearly from 0 like diffusers', () => {
    assert.equal(learningRate({ ...base, kind: 'constant' }, 1), 1e-3);
    const w = (s: number) => learningRate({ ...base, kind: 'constant_with_warmup' }, s);
    assert.deepEqual([1, 2, 3, 4, 5, 12].map(w), [0, 0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3]);
  });
  it('cosine: warmup, full rate after it, half at the middle, near 0 at the end', () => {
    const c = (s: number) => learningRate({ ...base, kind: 'cosine' }, s);
    assert.equal(c(5), 1e-3);
    assert.ok(Math.abs(c(9) - 0.5e-3) < 1e-12);
    assert.ok(c(12) < 0.05e-3 && c(12) > 0);
  });
});

describe('AdamW and clipping', () => {
  it('the first step moves every parameter by about lr against the gradient sign (plus decay)', () => {
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    const p = new Map([['w', Float32Array.of(1, -1, 0.5)]]);
    opt.update(p, new Map([['w', Float32Array.of(0.3, -2, 1e-3)]]), 0.01);
    const w = p.get('w') as Float32Array;
    assert.ok(Math.abs(w[0] - 0.99) < 1e-6 && Math.abs(w[1] + 0.99) < 1e-6 && Math.abs(w[2] - 0.49) < 1e-5);
  });
  it('clips the global norm', () => {
    const g = new Map([
      ['a', Float32Array.of(3)],
      ['b', Float32Array.of(4)],
    ]);
    assert.equal(clipGradNorm(g, 1), 5);
    assert.ok(Math.abs((g.get('a') as Float32Array)[0] - 0.6) < 1e-5);
  });
});

describe('training checkpoints', () => {
  it('round-trip parameters, moments and step; another run fingerprint is ignored', () => {
    const opt = new AdamW();
    const params = new Map([['x.lora_down.weight', Float32Array.of(1, 2, 3)]]);
    opt.update(params, new Map([['x.lora_down.weight', Float32Array.of(0.1, 0.2, -0.3)]]), 1e-3);
    saveTrainState(root, { step: 7, params, optimizer: opt, fingerprint: 'run-a', lastLoss: 0.5 });
    const s = loadTrainState(root, 'run-a');
    assert.ok(s);
    assert.equal(s.step, 7);
    assert.equal(s.optimizer.step, 1);
    assert.deepEqual(s.params.get('x.lora_down.weight'), params.get('x.lora_down.weight'));
    assert.deepEqual(s.optimizer.slots.get('x.lora_down.weight'), opt.slots.get('x.lora_down.weight'));
    assert.equal(loadTrainState(root, 'run-b'), undefined);
  });
});
