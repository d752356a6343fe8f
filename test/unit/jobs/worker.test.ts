// The worker loop: retries, permanent failures, a dead worker's job picked up by another, cancellation.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { EmbeddedQueue } from '../../../src/jobs/embedded-queue.ts';
import { PermanentJobError } from '../../../src/jobs/queue.ts';
import { type JobHandler, Worker } from '../../../src/jobs/worker.ts';
import { openSqlite } from '../../../src/store/db.ts';
import { getJob } from '../../../src/store/jobs.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(handler: JobHandler, leaseMs = 5000) {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-worker-'));
  const db = await openSqlite(join(dir, 'w.db'));
  const q = new EmbeddedQueue(db, { leaseMs, maxAttempts: 3, retryBaseMs: 1 });
  const errors: unknown[] = [];
  const w = new Worker(
    q,
    { t: handler },
    { concurrency: 2, leaseMs, pollMs: 10, onError: (e) => errors.push(e) },
  );
  cleanups.push(async () => {
    await w.stop();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, q, w, errors };
}

async function until<T>(fn: () => Promise<T> | T, what: string, ms = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a transient failure is retried and then succeeds; onFailed is not called', async () => {
  let calls = 0;
  const failed: string[] = [];
  const { q, w, db, errors } = await setup({
    async perform() {
      if (++calls === 1) throw new Error('network blip');
    },
    async onFailed(_j, m) {
      failed.push(m);
    },
  });
  const id = await q.enqueue({ type: 't', accountId: 1, subjectId: 1 });
  w.start();
  const row = await until(async () => {
    const j = await getJob(db, id);
    return j?.status === 'completed' ? j : null;
  }, 'completed');
  assert.equal(row.attempts, 2);
  assert.equal(calls, 2);
  assert.deepEqual(failed, []);
  assert.equal(errors.length, 1, 'the transient error was reported, tagged, not thrown');
});

test('a permanent failure calls onFailed once with the readable message', async () => {
  const failed: string[] = [];
  const { q, w, db } = await setup({
    async perform() {
      throw new PermanentJobError('image_urls[0] could not be downloaded: HTTP 404');
    },
    async onFailed(_j, m) {
      failed.push(m);
    },
  });
  const id = await q.enqueue({ type: 't', accountId: 1, subjectId: 1 });
  w.start();
  await until(() => failed.length > 0, 'onFailed');
  assert.deepEqual(failed, ['image_urls[0] could not be downloaded: HTTP 404']);
  assert.equal((await getJob(db, id))?.attempts, 1);
});

test('attempts exhausted by transient errors → onFailed with an internal error message', async () => {
  const failed: string[] = [];
  const { q, w } = await setup({
    async perform() {
      throw new Error('disk full');
    },
    async onFailed(_j, m) {
      failed.push(m);
    },
  });
  await q.enqueue({ type: 't', accountId: 1, subjectId: 1 });
  w.start();
  await until(() => failed.length > 0, 'onFailed');
  assert.match(failed[0], /disk full/);
});

test('a job whose worker died (no heartbeat) is picked up after its lease expires', async () => {
  const done: number[] = [];
  const { q, w, db } = await setup(
    {
      async perform(job) {
        done.push(job.id);
      },
      async onFailed() {},
    },
    60,
  );
  const id = await q.enqueue({ type: 't', accountId: 1, subjectId: 1 });
  await q.claim('killed-worker', ['t']); // claimed, then the process "died"
  w.start();
  await until(() => done.includes(id), 'retaken and done');
  const row = await until(async () => {
    const j = await getJob(db, id);
    return j?.status === 'completed' ? j : null;
  }, 'completed');
  assert.equal(row.attempts, 2);
});

test('cancel aborts the running job through its AbortSignal; onCancelled runs, not onFailed', async () => {
  let sawAbort = false;
  const events: string[] = [];
  const { q, w, db } = await setup({
    async perform(_job, { signal }) {
      events.push('started');
      await new Promise((_, reject) =>
        signal.addEventListener('abort', () => {
          sawAbort = true;
          reject(signal.reason);
        }),
      );
    },
    async onFailed() {
      events.push('failed');
    },
    async onCancelled() {
      events.push('cancelled');
    },
  });
  const id = await q.enqueue({ type: 't', accountId: 1, subjectId: 42 });
  w.start();
  await until(() => events.includes('started'), 'started');
  await q.cancel('t', 42);
  await until(() => events.includes('cancelled'), 'cancelled');
  assert.ok(sawAbort);
  assert.deepEqual(events, ['started', 'cancelled']);
  assert.equal((await getJob(db, id))?.status, 'cancelled');
});

test('stopping the worker hands a running job back uncounted, due at once', async () => {
  let started = false;
  const { q, w, db } = await setup({
    async perform(_job, { signal }) {
      started = true;
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    },
    async onFailed() {},
  });
  const id = await q.enqueue({ type: 't', accountId: 1, subjectId: 1 });
  w.start();
  await until(() => started, 'started');
  await w.stop();
  const row = (await getJob(db, id))!;
  assert.equal(row.status, 'queued');
  assert.equal(row.attempts, 0);
  assert.equal((await q.claim('next', ['t']))?.id, id);
});
