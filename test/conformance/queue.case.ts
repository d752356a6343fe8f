// The JobQueue contract, run against every implementation (queue.test.ts): claim once, fairness between accounts,
// attempts and backoff, permanent failures, uncounted release, cancellation of queued and running jobs, lease
// expiry and fencing of the old owner, delayed jobs, and concurrent claims.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobQueue } from '../../src/jobs/queue.ts';

export interface QueueOptions {
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
}

export interface QueueSubject {
  queue: JobQueue;
  /** Make every running job's lease look expired (instead of sleeping past it). */
  expireLeases(): Promise<void>;
  close(): Promise<void>;
}

export interface QueueImplementation {
  name: string;
  skip?: string;
  open(o: QueueOptions): Promise<QueueSubject>;
}

const T = 'prompt';
const DEFAULTS: QueueOptions = { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 0 };

export function queueConformance(impl: QueueImplementation): void {
  describe(`JobQueue conformance: ${impl.name}`, { skip: impl.skip }, () => {
    const open: QueueSubject[] = [];
    const subject = async (o: Partial<QueueOptions> = {}) => {
      const s = await impl.open({ ...DEFAULTS, ...o });
      open.push(s);
      return s.queue;
    };
    let q: JobQueue;
    before(async () => {
      q = await subject();
    });
    after(async () => {
      for (const s of open) await s.close();
    });

    // Each test uses its own subject ids/types-free accounts, and drains what it enqueued.
    test('a job is claimed once, carries its data, and is gone once completed', async () => {
      const fired: number[] = [];
      const off = q.on('enqueued', () => fired.push(1));
      const id = await q.enqueue({ type: T, accountId: 1, subjectId: 11, payload: { a: [1, 'x'] } });
      off();
      assert.ok(fired.length >= 1, 'enqueued event');
      const job = await q.claim('w1', [T]);
      assert.ok(job);
      assert.deepEqual(
        {
          id: job.id,
          type: job.type,
          accountId: job.accountId,
          subjectId: job.subjectId,
          payload: job.payload,
        },
        { id, type: T, accountId: 1, subjectId: 11, payload: { a: [1, 'x'] } },
      );
      assert.equal(job.attempts, 1);
      assert.equal(job.maxAttempts, 3);
      assert.equal(await q.claim('w2', [T]), null);
      assert.equal(await q.heartbeat(id, 'w1'), 'ok');
      assert.equal(await q.heartbeat(id, 'w2'), 'lost', 'another worker does not hold it');
      await q.complete(id, 'w1');
      assert.equal(await q.claim('w1', [T]), null);
      assert.equal(await q.heartbeat(id, 'w1'), 'lost');
    });

    test('only the asked types are claimed', async () => {
      const id = await q.enqueue({ type: 'train', accountId: 1, subjectId: 5 });
      assert.equal(await q.claim('w1', [T]), null);
      const job = await q.claim('w1', ['train']);
      assert.equal(job?.id, id);
      await q.complete(id, 'w1');
    });

    test('fairness: one account’s backlog alternates with another account’s job', async () => {
      const big: number[] = [];
      for (let i = 0; i < 6; i++) big.push(await q.enqueue({ type: T, accountId: 100, subjectId: 1000 + i }));
      const small = await q.enqueue({ type: T, accountId: 200, subjectId: 2000 });
      const order: number[] = [];
      for (;;) {
        const j = await q.claim('w1', [T]);
        if (!j) break;
        order.push(j.accountId);
        await q.complete(j.id, 'w1');
      }
      assert.equal(order.length, 7);
      assert.ok(order.indexOf(200) <= 1, `account 200 served within the first two claims: ${order}`);
      assert.ok(small > big[5]!, 'it was enqueued last');
    });

    test('transient failures retry with attempts counted, then fail for good', async () => {
      const id = await q.enqueue({ type: T, accountId: 3, subjectId: 30, maxAttempts: 2 });
      const a = await q.claim('w1', [T]);
      assert.equal(a?.attempts, 1);
      assert.equal(await q.fail(id, 'w1', 'blip', false), 'retrying');
      const b = await q.claim('w1', [T]);
      assert.equal(b?.id, id);
      assert.equal(b?.attempts, 2);
      assert.equal(await q.fail(id, 'w1', 'blip again', false), 'failed');
      assert.equal(await q.claim('w1', [T]), null);
    });

    test('a permanent failure is final at the first attempt', async () => {
      const id = await q.enqueue({ type: T, accountId: 3, subjectId: 31 });
      await q.claim('w1', [T]);
      assert.equal(await q.fail(id, 'w1', 'bad input', true), 'failed');
      assert.equal(await q.claim('w1', [T]), null);
    });

    test('retry backoff delays the next attempt', async () => {
      const slow = await subject({ retryBaseMs: 60_000 });
      const id = await slow.enqueue({ type: T, accountId: 4, subjectId: 40 });
      await slow.claim('w1', [T]);
      const before = Date.now();
      assert.equal(await slow.fail(id, 'w1', 'blip', false), 'retrying');
      assert.equal(await slow.claim('w1', [T]), null, 'not due yet');
      const due = await slow.nextDueAt([T]);
      assert.ok(due, 'the retry is scheduled');
      // base·2^0·U(½,1]: between 30 s and 60 s from now
      assert.ok(due.getTime() >= before + 29_000 && due.getTime() <= Date.now() + 61_000, String(due));
      await slow.cancel(T, 40);
    });

    test('release hands the job back at once without counting the attempt', async () => {
      const id = await q.enqueue({ type: T, accountId: 5, subjectId: 50 });
      const a = await q.claim('w1', [T]);
      assert.equal(a?.attempts, 1);
      await q.release(id, 'w1');
      const b = await q.claim('w2', [T]);
      assert.equal(b?.id, id);
      assert.equal(b?.attempts, 1);
      await q.complete(id, 'w2');
    });

    test('cancel: a queued job is never claimed; a running one is told through heartbeat and the event', async () => {
      const queued = await q.enqueue({ type: T, accountId: 6, subjectId: 60 });
      await q.cancel(T, 60);
      assert.equal(await q.claim('w1', [T]), null);
      assert.ok(queued > 0);

      const running = await q.enqueue({ type: T, accountId: 6, subjectId: 61 });
      const job = await q.claim('w1', [T]);
      assert.equal(job?.id, running);
      const told: number[][] = [];
      const off = q.on('cancel', (ids) => told.push(ids));
      await q.cancel(T, 61);
      off();
      assert.deepEqual(told, [[running]]);
      assert.equal(await q.heartbeat(running, 'w1'), 'cancelled');
      await q.cancelled(running, 'w1');
      assert.equal(await q.claim('w1', [T]), null);
      await q.cancel(T, 61); // cancelling again is harmless
    });

    test('an expired lease is taken by another worker; the old owner is fenced off', async () => {
      const s = await impl.open({ ...DEFAULTS, maxAttempts: 2 });
      open.push(s);
      const id = await s.queue.enqueue({ type: T, accountId: 7, subjectId: 70 });
      await s.queue.claim('dead', [T]);
      await s.expireLeases();
      assert.deepEqual(await s.queue.reapExpired(), [], 'requeued, not failed: an attempt is left');
      const again = await s.queue.claim('alive', [T]);
      assert.equal(again?.id, id);
      assert.equal(again?.attempts, 2);
      assert.equal(await s.queue.heartbeat(id, 'dead'), 'lost');
      await s.queue.complete(id, 'dead'); // a late settle by the old owner changes nothing
      assert.equal(await s.queue.heartbeat(id, 'alive'), 'ok');
      await s.expireLeases();
      const failed = await s.queue.reapExpired();
      assert.deepEqual(
        failed.map((j) => [j.id, j.subjectId]),
        [[id, 70]],
        'attempts used up: failed and returned for the failure hook',
      );
      assert.equal(await s.queue.claim('alive', [T]), null);
    });

    test('a delayed job is not due before its time, and nextDueAt says when', async () => {
      const at = new Date(Date.now() + 3_600_000);
      await q.enqueue({ type: T, accountId: 8, subjectId: 80, runAt: at });
      assert.equal(await q.claim('w1', [T]), null);
      const due = await q.nextDueAt([T]);
      assert.ok(due && Math.abs(due.getTime() - at.getTime()) < 1000, String(due));
      await q.cancel(T, 80);
      assert.equal(await q.nextDueAt([T]), null);
    });

    test('positions: 1 is claimed next, and each claim moves the others up in the order they are claimed', async () => {
      // Account 310 already has a job running; 320 and 330 have none. Jobs are claimed and left running, so
      // nothing finishes meanwhile (the case a position describes).
      const busy = await q.enqueue({ type: T, accountId: 310, subjectId: 3100 });
      assert.equal((await q.claim('w1', [T]))?.id, busy);
      const subjects: number[] = [];
      for (const [account, n] of [
        [310, 3],
        [320, 3],
        [330, 1],
      ] as const)
        for (let i = 1; i <= n; i++) {
          subjects.push(account * 10 + i);
          await q.enqueue({ type: T, accountId: account, subjectId: account * 10 + i });
        }
      const delayed = await q.enqueue({
        type: T,
        accountId: 330,
        subjectId: 3399,
        runAt: new Date(Date.now() + 3_600_000),
      });
      const claimed: number[] = [busy];
      let left = [...subjects];
      while (left.length) {
        const positions = await q.positions(T, [...left, 3399, 999_999], [T]);
        assert.equal(positions.has(3399), false, 'a job not due yet has no position');
        assert.equal(positions.has(999_999), false, 'nor a subject without a job');
        assert.deepEqual(
          [...positions.values()].sort((a, b) => a - b),
          left.map((_, i) => i + 1),
          'positions 1..n, each once',
        );
        const next = [...positions].find(([, p]) => p === 1)![0];
        await new Promise((r) => setTimeout(r, 3)); // distinct claim times, as between real claims
        const job = await q.claim('w1', [T]);
        assert.equal(
          job?.subjectId,
          next,
          `position 1 (subject ${next}) is claimed next; positions ${[...positions]}`,
        );
        claimed.push(job.id);
        left = left.filter((s) => s !== next);
      }
      for (const id of claimed) await q.complete(id, 'w1');
      await q.cancel(T, 3399);
      assert.ok(delayed > 0);
    });

    test('concurrent claimers each get distinct jobs, and every job exactly once', async () => {
      const ids = new Set<number>();
      for (let i = 0; i < 12; i++)
        ids.add(await q.enqueue({ type: T, accountId: 9 + (i % 3), subjectId: 900 + i }));
      const got: number[] = [];
      await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (w) => {
          for (;;) {
            const j = await q.claim(w, [T]);
            if (!j) return;
            got.push(j.id);
            await q.complete(j.id, w);
          }
        }),
      );
      assert.deepEqual(
        [...got].sort((x, y) => x - y),
        [...ids].sort((x, y) => x - y),
      );
    });
  });
}
