// The embedded queue: durability across restarts, leases and expiry, attempts and backoff, cancellation, and
// fairness between accounts.
import assert from 'node:assert/strict';
import { afterEach, before, describe, test } from 'node:test';
import { EmbeddedQueue } from '../../../src/jobs/embedded-queue.ts';
import { jobRetryDelayMs } from '../../../src/jobs/queue.ts';
import type { Db } from '../../../src/store/db.ts';
import { getJob } from '../../../src/store/jobs.ts';
import { storeTargets, type Target } from '../store/targets.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let target: Target;
let reopen: () => Promise<Db>;

async function open(opts: Partial<ConstructorParameters<typeof EmbeddedQueue>[1]> = {}) {
  const o = await target.open();
  cleanups.push(o.cleanup);
  reopen = o.reopen;
  const q = new EmbeddedQueue(o.db, { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000, ...opts });
  return { db: o.db, q };
}

async function until<T>(fn: () => Promise<T>, what: string, ms = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const t of await storeTargets()) {
  describe(`embedded queue on ${t.name}`, { skip: t.skip }, () => {
    before(() => {
      target = t;
    });
    test('enqueue → claim → complete; a claimed job is not claimed twice', async () => {
      const { q, db } = await open();
      const id = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 7, payload: { a: 1 } });
      const job = await q.claim('w1', ['prompt']);
      assert.equal(job?.id, id);
      assert.deepEqual(job?.payload, { a: 1 });
      assert.equal(job?.attempts, 1);
      assert.equal(await q.claim('w2', ['prompt']), null);
      assert.equal(await q.claim('w1', ['train']), null);
      await q.complete(id, 'w1');
      assert.equal((await getJob(db, id))?.status, 'completed');
    });

    test('jobs survive a restart: a new connection to the same database claims them', async () => {
      const first = await open();
      const id = await first.q.enqueue({ type: 'train', accountId: 1, subjectId: 1 });
      const db2 = await reopen();
      const second = new EmbeddedQueue(db2, { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000 });
      assert.equal((await second.claim('w', ['train']))?.id, id);
    });

    test('an expired lease is taken again by another worker, with the attempt counted', async () => {
      const { q } = await open({ leaseMs: 20 });
      const id = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 1 });
      assert.equal((await q.claim('dead-worker', ['prompt']))?.id, id);
      const again = await until(async () => {
        await q.reapExpired();
        return q.claim('w2', ['prompt']);
      }, 'retaken');
      assert.equal(again.id, id);
      assert.equal(again.attempts, 2);
      assert.equal(await q.heartbeat(id, 'dead-worker'), 'lost');
      assert.equal(await q.heartbeat(id, 'w2'), 'ok');
    });

    test('an expired lease with no attempt left fails the job and reports it', async () => {
      const { q, db } = await open({ leaseMs: 20, maxAttempts: 1 });
      const id = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 1 });
      await q.claim('dead-worker', ['prompt']);
      const failed = await until(async () => {
        const r = await q.reapExpired();
        return r.length ? r : null;
      }, 'reaped');
      assert.equal(failed[0].id, id);
      assert.equal((await getJob(db, id))?.status, 'failed');
      assert.equal(await q.claim('w2', ['prompt']), null);
    });

    test('transient failures are retried with backoff until attempts run out; permanent ones fail at once', async () => {
      const { q, db } = await open({ maxAttempts: 2, retryBaseMs: 60_000 });
      const id = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 1 });
      await q.claim('w', ['prompt']);
      assert.equal(await q.fail(id, 'w', 'flaky', false), 'retrying');
      const row = (await getJob(db, id))!;
      assert.equal(row.status, 'queued');
      assert.ok(Date.parse(row.run_at) > Date.now() + 20_000, 'run_at pushed back');
      assert.equal(await q.claim('w', ['prompt']), null, 'not due yet');
      assert.ok((await q.nextDueAt(['prompt']))!.getTime() > Date.now());

      const id2 = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 2, maxAttempts: 1 });
      await q.claim('w', ['prompt']);
      assert.equal(await q.fail(id2, 'w', 'flaky', false), 'failed', 'no attempt left');
      const id3 = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 3 });
      await q.claim('w', ['prompt']);
      assert.equal(await q.fail(id3, 'w', 'bad input', true), 'failed');
      assert.equal((await getJob(db, id3))?.last_error, 'bad input');
    });

    test('backoff doubles per attempt with jitter in (½, 1]', () => {
      assert.equal(
        jobRetryDelayMs(1000, 1, () => 1),
        1000,
      );
      assert.equal(
        jobRetryDelayMs(1000, 3, () => 1),
        4000,
      );
      assert.equal(
        jobRetryDelayMs(1000, 3, () => 0),
        2000,
      );
    });

    test('cancel: a queued job is cancelled at once; a running one is flagged, seen by heartbeat, and signalled', async () => {
      const { q, db } = await open();
      const queued = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 10 });
      await q.cancel('prompt', 10);
      assert.equal((await getJob(db, queued))?.status, 'cancelled');
      const running = await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 11 });
      await q.claim('w', ['prompt']);
      const signalled: number[][] = [];
      q.on('cancel', (ids) => signalled.push(ids));
      await q.cancel('prompt', 11);
      assert.deepEqual(signalled, [[running]]);
      assert.equal(await q.heartbeat(running, 'w'), 'cancelled');
      await q.cancelled(running, 'w');
      assert.equal((await getJob(db, running))?.status, 'cancelled');
    });

    test("fairness: 500 queued jobs of one account do not starve another account's single job", async () => {
      const { q, db } = await open();
      await insertMany(db, 500, 1);
      const lone = await q.enqueue({ type: 'prompt', accountId: 2, subjectId: 9999 });
      const order: number[] = [];
      for (let i = 0; i < 3; i++) {
        const j = (await q.claim('w', ['prompt']))!;
        order.push(j.accountId);
        await q.complete(j.id, 'w');
      }
      assert.ok(order.slice(0, 2).includes(2), `account 2 served within two claims: ${order}`);
      assert.equal((await getJob(db, lone))?.status, 'completed');
    });

    test('fairness: with concurrency, the account with fewer running jobs goes first', async () => {
      const { q } = await open();
      for (let i = 0; i < 5; i++) await q.enqueue({ type: 'prompt', accountId: 1, subjectId: i });
      for (let i = 0; i < 5; i++) await q.enqueue({ type: 'prompt', accountId: 2, subjectId: 100 + i });
      const running = [];
      for (let i = 0; i < 4; i++) running.push((await q.claim('w', ['prompt']))!.accountId);
      assert.deepEqual(running.sort(), [1, 1, 2, 2]);
    });
  });
}

async function insertMany(db: Db, n: number, accountId: number) {
  const now = new Date().toISOString();
  const rows = Array.from({ length: n }, (_, i) => ({
    type: 'prompt',
    account_id: accountId,
    subject_id: i,
    payload: '{}',
    status: 'queued' as const,
    run_at: now,
    attempts: 0,
    max_attempts: 3,
    cancel_requested: 0,
    created_at: now,
    updated_at: now,
  }));
  for (let i = 0; i < rows.length; i += 100)
    await db
      .insertInto('jobs')
      .values(rows.slice(i, i + 100))
      .execute();
}
