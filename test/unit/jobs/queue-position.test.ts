// Queue positions: the closed form (src/jobs/queue-position.ts) against a pick-by-pick replay of the fair pick's
// rules, and the embedded queue counting every type the worker claims (a training job ahead of a prompt).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddedQueue, KEYS_MS } from '../../../src/jobs/embedded-queue.ts';
import { fairQueuePosition, type QueueAccount } from '../../../src/jobs/queue-position.ts';
import { openDatabase } from '../../../src/store/db.ts';

/** Replays pickNextJob's rule: lowest (running, last claim, oldest due id); the picked account runs one more job,
 *  was served last, and its next due job becomes its oldest. Returns "account:rank" in pick order. */
function replay(accounts: QueueAccount[]): string[] {
  const live = accounts.map((a) => ({ ...a, taken: 0 }));
  const order: string[] = [];
  for (let clock = 0; ; clock++) {
    const waiting = live.filter((a) => a.taken < a.due);
    if (!waiting.length) return order;
    waiting.sort(
      (x, y) =>
        x.running - y.running ||
        (x.lastClaim < y.lastClaim ? -1 : x.lastClaim > y.lastClaim ? 1 : 0) ||
        x.firstId - y.firstId,
    );
    const a = waiting[0]!;
    a.taken++;
    order.push(`${a.accountId}:${a.taken}`);
    a.running++;
    a.lastClaim = `9999-${String(clock).padStart(6, '0')}`; // later than every real claim
    a.firstId += 1000; // its next due job (ids only break ties between never-served accounts)
  }
}

function randomAccounts(rand: () => number): QueueAccount[] {
  const n = 1 + Math.floor(rand() * 6);
  return Array.from({ length: n }, (_, i) => ({
    accountId: i + 1,
    running: Math.floor(rand() * 4),
    // some never served (''), some sharing a claim time, so every tie-break is exercised
    lastClaim: rand() < 0.3 ? '' : `2026-01-0${1 + Math.floor(rand() * 3)}`,
    firstId: 1 + Math.floor(rand() * 500) * 7 + i, // distinct
    due: Math.floor(rand() * 7),
  }));
}

test('the closed form gives every due job the place the pick-by-pick replay gives it', () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let trial = 0; trial < 500; trial++) {
    const accounts = randomAccounts(rand);
    const order = replay(accounts);
    for (const a of accounts)
      for (let rank = 1; rank <= a.due; rank++)
        assert.equal(
          fairQueuePosition(accounts, a.accountId, rank),
          order.indexOf(`${a.accountId}:${rank}`) + 1,
          `trial ${trial}, account ${a.accountId} rank ${rank}: ${JSON.stringify(accounts)}`,
        );
  }
});

test('no position for an unknown account, or a rank past its due jobs', () => {
  const accounts: QueueAccount[] = [{ accountId: 1, running: 0, lastClaim: '', firstId: 1, due: 2 }];
  assert.equal(fairQueuePosition(accounts, 2, 1), null);
  assert.equal(fairQueuePosition(accounts, 1, 3), null);
  assert.equal(fairQueuePosition(accounts, 1, 0), null);
  assert.equal(fairQueuePosition(accounts, 1, 2), 2);
});

test('embedded queue: a training job of another type counts ahead of a prompt; positions are per subject', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-qpos-'));
  const db = await openDatabase(join(dir, 'q.db'));
  try {
    const q = new EmbeddedQueue(db, { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000 });
    await q.enqueue({ type: 'train', accountId: 1, subjectId: 7 });
    await q.enqueue({ type: 'prompt', accountId: 1, subjectId: 70 });
    await q.enqueue({ type: 'prompt', accountId: 2, subjectId: 80 });
    await q.enqueue({ type: 'prompt', accountId: 2, subjectId: 81 });
    // Order of the fair pick: account 1's train job (oldest), account 2's 80, account 1's 70, account 2's 81.
    const among = ['train', 'prompt'];
    assert.deepEqual(Object.fromEntries(await q.positions('prompt', [70, 80, 81], among)), {
      70: 3,
      80: 2,
      81: 4,
    });
    assert.deepEqual(Object.fromEntries(await q.positions('train', [7], among)), { 7: 1 });
    // A worker that claims prompts only sees a different queue.
    assert.deepEqual(Object.fromEntries(await q.positions('prompt', [70, 80, 81], ['prompt'])), {
      70: 1,
      80: 2,
      81: 3,
    });
    const first = await q.claim('w', among);
    assert.equal(first?.type, 'train');
    assert.deepEqual(
      Object.fromEntries(await q.positions('prompt', [70, 80, 81], among)),
      { 70: 2, 80: 1, 81: 3 },
      'account 1 now runs a job, so account 2 goes first',
    );
    await q.cancel('prompt', 80);
    assert.deepEqual(
      Object.fromEntries(await q.positions('prompt', [70, 80, 81], among)),
      {
        70: 2,
        81: 1,
      },
      'a cancelled job leaves the queue; account 1 still runs one, so 81 goes first',
    );
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('embedded queue: another process’s claim shows in positions within KEYS_MS; this queue’s own at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-qpos-'));
  const db = await openDatabase(join(dir, 'q.db'));
  try {
    const opts = { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000 };
    const api = new EmbeddedQueue(db, opts); // the API process
    const worker = new EmbeddedQueue(db, opts); // a worker process on the same database
    await api.enqueue({ type: 'prompt', accountId: 1, subjectId: 10 });
    await api.enqueue({ type: 'prompt', accountId: 1, subjectId: 11 });
    await api.enqueue({ type: 'prompt', accountId: 2, subjectId: 20 });
    const among = ['prompt'];
    const read = async (q: EmbeddedQueue) => Object.fromEntries(await q.positions('prompt', [11, 20], among));
    assert.deepEqual(await read(api), { 11: 3, 20: 2 });
    assert.equal((await worker.claim('w', among))?.subjectId, 10);
    // Account 1 now runs a job: 20 goes first. The worker's own queue knows at once; the API's within KEYS_MS.
    assert.deepEqual(await read(worker), { 11: 2, 20: 1 });
    await new Promise((r) => setTimeout(r, KEYS_MS + 50));
    assert.deepEqual(await read(api), { 11: 2, 20: 1 });
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
