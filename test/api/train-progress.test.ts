// Training progress reaches the tune: a trainer's etaSeconds becomes the tune's `eta` (expected end time, as in
// Astria) while it trains. The trainer here is a test double that reports one step and then waits for the test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunOptions, Trainer, TrainingRequest } from '../../src/domain/ports.ts';
import { FastMockGenerator } from '../../src/jobs/fast-generator.ts';
import { dataUrl, type Harness, harness, waitFor } from './helpers.ts';

/** Test double: reports step 1 of 10 with a loss and 600 s left, then finishes when `release()` is called. */
class SteppingTrainerDouble implements Trainer {
  readonly name = 'stepping-double';
  release!: () => void;
  private readonly gate = new Promise<void>((r) => {
    this.release = r;
  });
  capabilities() {
    return { branches: ['sd15'], modelTypes: ['lora'], mock: false };
  }
  async train(_req: TrainingRequest, opts: RunOptions) {
    opts.onProgress?.({ phase: 'training', step: 1, total: 10, loss: 0.12, etaSeconds: 600 });
    await this.gate;
    return { weights: Buffer.from('weights'), notes: [] };
  }
}

let h: Harness;
const trainer = new SteppingTrainerDouble();
before(async () => {
  h = await harness({}, { engines: { generators: [new FastMockGenerator()], trainers: [trainer] } });
});
after(() => h.close());

test("a trainer's etaSeconds fills the tune's eta while it trains", async () => {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const t0 = Date.now();
  const created = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'eta', name: 'man', branch: 'sd15' }, images },
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().eta, null);
  const training = await waitFor(async () => {
    const t = (await h.req({ method: 'GET', url: `/tunes/${created.json().id}` })).json();
    return t.eta ? t : null;
  }, 'eta set');
  const t1 = Date.now();
  assert.equal(training.status, 'training');
  const eta = Date.parse(training.eta);
  assert.ok(eta >= t0 + 600_000 && eta <= t1 + 600_000, `eta ${training.eta}`);
  assert.ok(training.progress > 0.1 && training.progress < 1);
  trainer.release();
  await waitFor(async () => {
    const t = (await h.req({ method: 'GET', url: `/tunes/${created.json().id}` })).json();
    return t.status === 'trained' ? t : null;
  }, 'trained');
});
