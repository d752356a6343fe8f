// Failure mode: SIGTERM to a worker process that is running a job (graceful shutdown). The worker stops taking
// jobs, aborts the running one and hands it back uncounted, and exits 0 within a bound; the next worker finishes it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { dataUrl, type Harness, harness, waitFor } from '../api/helpers.ts';
import { spawnWorker } from './spawn-worker.ts';

const EXIT_BOUND_MS = 15_000; // a bound on shutdown, not a speed claim: the job itself would take 10 minutes

let h: Harness | undefined;
after(() => h?.close());

test('SIGTERM hands the running job back uncounted and exits 0; a new worker completes it', async () => {
  h = await harness({ workerInProcess: false });
  const env = {
    ATELIER_DATA_DIR: h.dir,
    ATELIER_JOB_POLL_MS: '50',
    ATELIER_PUBLIC_BASE_URL: h.config.publicBaseUrl,
  };
  const slow = await spawnWorker({ ...env, ATELIER_FAST_TRAIN_MS: '600000' });
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'sigterm',
        name: 'man',
        branch: 'fast',
        images: await Promise.all([0, 1, 2, 3].map(() => dataUrl())),
      },
    },
  });
  assert.equal(r.statusCode, 201, r.body);
  const id = r.json().id;
  const job = () =>
    h!.rt.svc.db
      .selectFrom('jobs')
      .selectAll()
      .where('type', '=', 'train')
      .where('subject_id', '=', id)
      .executeTakeFirst();
  await waitFor(async () => (await job())?.status === 'running', 'train job running');

  slow.child.kill('SIGTERM');
  const exit = await Promise.race([
    slow.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), EXIT_BOUND_MS).unref()),
  ]);
  if (exit === 'timeout') slow.child.kill('SIGKILL');
  assert.deepEqual(exit, { code: 0, signal: null }, slow.output());
  const back = await job();
  assert.equal(back?.status, 'queued', 'handed back');
  assert.equal(back?.attempts, 0, 'the interrupted attempt is not counted');
  assert.equal(back?.lease_owner, null);

  const fast = await spawnWorker({ ...env, ATELIER_FAST_TRAIN_MS: '20' });
  try {
    const t = await waitFor(async () => {
      const t = (await h!.req({ method: 'GET', url: `/tunes/${id}` })).json();
      return t.trained_at ? t : null;
    }, 'tune trained by the next worker');
    assert.ok(t.trained_at);
    // the worker settles the job just after the tune is marked trained
    const settled = await waitFor(async () => {
      const j = await job();
      return j?.status === 'completed' ? j : null;
    }, 'train job settled');
    assert.equal(settled.attempts, 1);
  } finally {
    fast.child.kill('SIGTERM');
    await fast.exited;
  }
});
