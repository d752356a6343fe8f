// Job dispatch through each queue mode with a no-op job, beside a same-run baseline on the same database.
//   throughput: N queued no-op jobs drained by one worker (concurrency 1): jobs/s, and its ratio to the bare
//               loop (insert a row then select it back, the least any durable claim+settle could cost);
//   latency:    with the worker idle, time from enqueue() to the handler starting, one job at a time.
// In pg-boss mode the worker has its own PgBossQueue (own connections, woken by LISTEN/NOTIFY), as a worker on
// another machine would. Targets (docs/scale-out.md): embedded median latency < 5 ms and throughput ≥ ½ the bare
// loop; pg-boss: an idle worker starts a queued job within 100 ms.
// Env: BENCH_JOBS (throughput jobs, default 300), BENCH_SAMPLES (latency samples, default 100),
//      ATELIER_TEST_PG_URL (admin URL of PostgreSQL; modes on PostgreSQL are skipped when unreachable).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { EmbeddedQueue } from '../src/jobs/embedded-queue.ts';
import { PgBossQueue } from '../src/jobs/pgboss-queue.ts';
import type { JobQueue } from '../src/jobs/queue.ts';
import { Worker } from '../src/jobs/worker.ts';
import { type Db, openDatabase } from '../src/store/db.ts';
import { pgUnavailable, scratchDatabase } from '../test/conformance/queue-pg.ts';

const N = Number(process.env.BENCH_JOBS ?? 300);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100);
const OPTS = { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 1000 };
const TYPE = 'noop';

interface Mode {
  name: string;
  db: Db; // for the bare-loop baseline, on the same database
  producer: JobQueue;
  consumer: JobQueue;
  close(): Promise<void>;
}

async function bareLoopPerSecond(db: Db, n: number): Promise<number> {
  await sql`drop table if exists bench_bare`.execute(db);
  await sql`create table bench_bare (id integer primary key, v text not null)`.execute(db);
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    await sql`insert into bench_bare (id, v) values (${i}, ${'x'})`.execute(db);
    await sql`select v from bench_bare where id = ${i}`.execute(db);
  }
  const s = (performance.now() - t0) / 1000;
  await sql`drop table bench_bare`.execute(db);
  return n / s;
}

/** A worker whose single job type does nothing but report that it started. */
function noopWorker(q: JobQueue, onStart: () => void): Worker {
  return new Worker(
    q,
    { [TYPE]: { perform: async () => onStart(), onFailed: async () => {} } },
    { concurrency: 1, leaseMs: OPTS.leaseMs, pollMs: 1000, onError: (e) => console.error(e) },
  );
}

async function throughput(m: Mode): Promise<number> {
  for (let i = 0; i < N; i++) await m.producer.enqueue({ type: TYPE, accountId: 1 + (i % 4), subjectId: i });
  let started = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const w = noopWorker(m.consumer, () => {
    if (++started === N) done();
  });
  const t0 = performance.now();
  w.start();
  await all;
  const s = (performance.now() - t0) / 1000;
  await w.stop();
  return N / s;
}

async function latencies(m: Mode): Promise<number[]> {
  let onStart: () => void = () => {};
  const w = noopWorker(m.consumer, () => onStart());
  w.start();
  await new Promise((r) => setTimeout(r, 200)); // let the worker reach its idle sleep
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const started = new Promise<number>((r) => {
      onStart = () => r(performance.now());
    });
    const t0 = performance.now();
    await m.producer.enqueue({ type: TYPE, accountId: 1, subjectId: 10_000 + i });
    out.push((await started) - t0);
    await new Promise((r) => setTimeout(r, 5)); // the job settles; the worker goes idle again
  }
  await w.stop();
  return out.sort((a, b) => a - b);
}

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function sqliteMode(): Promise<Mode> {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-bench-'));
  const db = await openDatabase(join(dir, 'b.db'));
  const q = new EmbeddedQueue(db, OPTS);
  return {
    name: 'embedded / SQLite',
    db,
    producer: q,
    consumer: q,
    async close() {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function pgEmbeddedMode(): Promise<Mode> {
  const scratch = await scratchDatabase('atelier_bench');
  const db = await openDatabase(scratch.url);
  const q = new EmbeddedQueue(db, OPTS);
  return {
    name: 'embedded / PostgreSQL',
    db,
    producer: q,
    consumer: q,
    async close() {
      await db.destroy();
      await scratch.drop();
    },
  };
}

async function pgBossMode(): Promise<Mode> {
  const scratch = await scratchDatabase('atelier_bench');
  const db = await openDatabase(scratch.url);
  const producer = await PgBossQueue.open({ connectionString: scratch.url, types: [TYPE], ...OPTS });
  const consumer = await PgBossQueue.open({ connectionString: scratch.url, types: [TYPE], ...OPTS });
  return {
    name: 'pg-boss / PostgreSQL (worker on its own connections)',
    db,
    producer,
    consumer,
    async close() {
      await producer.close();
      await consumer.close();
      await db.destroy();
      await scratch.drop();
    },
  };
}

const pgSkip = await pgUnavailable();
if (pgSkip) console.log(`(${pgSkip}: PostgreSQL modes skipped)`);
const factories = [sqliteMode, ...(pgSkip ? [] : [pgEmbeddedMode, pgBossMode])];
console.log(`no-op jobs: ${N} for throughput, ${SAMPLES} latency samples; worker concurrency 1`);
for (const f of factories) {
  const m = await f();
  try {
    const bare = await bareLoopPerSecond(m.db, N);
    const tput = await throughput(m);
    const lat = await latencies(m);
    console.log(`\n${m.name}`);
    console.log(`  bare insert+select loop   ${bare.toFixed(0)} /s`);
    console.log(
      `  jobs dispatched           ${tput.toFixed(0)} /s  (ratio to bare loop ${(tput / bare).toFixed(2)})`,
    );
    console.log(
      `  enqueue → start           median ${pct(lat, 0.5).toFixed(2)} ms, p95 ${pct(lat, 0.95).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`,
    );
    console.log(
      `  bare round trip           ${(1000 / bare).toFixed(2)} ms  (median latency = ${(pct(lat, 0.5) / (1000 / bare)).toFixed(1)}× one bare round trip)`,
    );
  } finally {
    await m.close();
  }
}
