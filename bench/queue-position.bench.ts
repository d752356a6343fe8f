// Cost of queue positions (ext `queue_position`) on the embedded queue, beside a same-run baseline: one fair pick
// (pickNextJob, what a worker pays per claim) on the same database and queue.
//   cold: positions of 24 queued jobs of one account (a gallery page) from a fresh snapshot (due jobs + pick keys);
//   warm: the same from the cached snapshot, as every event stream of a queued prompt asks within KEYS_MS.
// Env: BENCH_QUEUED (queued jobs, default 10 000), BENCH_ACCOUNTS (default 10), BENCH_RUNS (default 40).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedQueue, KEYS_MS } from '../src/jobs/embedded-queue.ts';
import { openDatabase } from '../src/store/db.ts';
import { pickNextJob } from '../src/store/jobs.ts';

const N = Number(process.env.BENCH_QUEUED ?? 10_000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const TYPES = ['train', 'prompt'];

async function median(f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'atelier-bench-qpos-'));
const db = await openDatabase(join(dir, 'q.db'));
try {
  const at = '2000-01-01T00:00:00.000Z';
  await db.transaction().execute(async (tx) => {
    for (let i = 0; i < N; i++)
      await tx
        .insertInto('jobs')
        .values({
          type: 'prompt',
          account_id: 1 + (i % ACCOUNTS),
          subject_id: i,
          payload: '{}',
          status: 'queued',
          run_at: at,
          attempts: 0,
          max_attempts: 3,
          cancel_requested: 0,
          created_at: at,
          updated_at: at,
        })
        .execute();
  });
  const page = Array.from({ length: 24 }, (_, i) => N - 1 - i * ACCOUNTS); // 24 jobs of the last account
  const pick = await median(() => pickNextJob(db, TYPES));
  const opts = { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000 };
  const cold = await median(() => new EmbeddedQueue(db, opts).positions('prompt', page, TYPES));
  const warmQueue = new EmbeddedQueue(db, opts);
  const warm = await median(() => warmQueue.positions('prompt', page, TYPES));
  const f = (x: number) => `${x.toFixed(3)} ms`;
  console.log(`${N} queued jobs over ${ACCOUNTS} accounts, SQLite, medians of ${RUNS}`);
  console.log(`baseline: one fair pick (pickNextJob)      ${f(pick)}`);
  console.log(`24 positions, keys read                   ${f(cold)}  (${(cold / pick).toFixed(2)}× a pick)`);
  console.log(
    `24 positions, keys cached (< ${KEYS_MS} ms)     ${f(warm)}  (${(warm / pick).toFixed(2)}× a pick)`,
  );
  const one = await median(() => warmQueue.positions('prompt', [N - 1], TYPES));
  console.log(`1 position, keys cached                   ${f(one)}  (${(one / pick).toFixed(2)}× a pick)`);
} finally {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
}
