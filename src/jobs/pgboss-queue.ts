// The scale-out queue: pg-boss 10 on the application's PostgreSQL (docs/scale-out.md). pg-boss owns the job rows
// (pgboss.job: state, retry_count/retry_limit, start_after, expire_in) and the fetch (`FOR UPDATE SKIP LOCKED`);
// this adapter adds what the JobQueue seam promises beyond it:
//   - fairness between accounts: pg-boss priority = −round (pgboss/fair-rounds.ts);
//   - ownership: the claiming worker's id is written into the job's `output` column, and every later step
//     (heartbeat, complete, fail, release) is an UPDATE guarded by state = 'active' AND that owner, so a worker
//     whose lease expired can no longer settle a job another worker took;
//   - leases: `expire_in` starts at the lease length and each heartbeat stretches it to now + lease; reapExpired
//     applies pg-boss's own expiry rule (started_on + expire_in < now) at once and returns the jobs that ran out of
//     attempts, so the worker can fail their prompt/tune (pg-boss's supervisor is off for that reason);
//   - wake-ups across machines: enqueue NOTIFYs, every adapter LISTENs, so an idle remote worker claims at once.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { ensureRoundsTable, nextRound } from './pgboss/fair-rounds.ts';
import { jobIdOfUuid, uuidOfJobId } from './pgboss/ids.ts';
import {
  type ClaimedJob,
  type EnqueueOptions,
  type HeartbeatResult,
  type JobQueue,
  jobRetryDelayMs,
} from './queue.ts';

export interface PgBossQueueOptions {
  connectionString: string;
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  /** pg-boss schema (default `pgboss`). */
  schema?: string;
  /** Job types whose pg-boss queues are created at start (others on first use). */
  types?: string[];
  /** Finished jobs are deleted after this many days (default 7). */
  keepFinishedDays?: number;
  /** Errors of the background connections (pg-boss, the LISTEN client). */
  onError?: (err: unknown) => void;
}

interface JobData {
  accountId: number;
  subjectId: number;
  payload: unknown;
}

interface JobRow {
  id: string;
  name: string;
  data: JobData;
  retry_count: number;
  retry_limit: number;
}

const WAKE_CHANNEL = 'atelier_job_enqueued';
const QUEUE_PREFIX = 'atelier.';
const queueName = (type: string) => QUEUE_PREFIX + type;
const typeOf = (name: string) => name.slice(QUEUE_PREFIX.length);

const toClaimed = (r: JobRow): ClaimedJob => ({
  id: jobIdOfUuid(r.id),
  type: typeOf(r.name),
  accountId: r.data.accountId,
  subjectId: r.data.subjectId,
  payload: r.data.payload,
  attempts: r.retry_count + 1,
  maxAttempts: r.retry_limit + 1,
});

export class PgBossQueue implements JobQueue {
  private readonly events = new EventEmitter();
  private readonly boss: PgBoss;
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly knownQueues = new Set<string>();
  private listener: pg.Client | null = null;
  private closed = false;
  private typeTurn = 0;
  private lastCleanup = 0;

  private constructor(private readonly opts: PgBossQueueOptions) {
    this.schema = opts.schema ?? 'pgboss';
    if (!/^[a-z_][a-z0-9_]*$/.test(this.schema)) throw new Error(`bad pg-boss schema name: ${this.schema}`);
    // supervise off: lease expiry is reapExpired's job (it must hand exhausted jobs to the worker's failure hook).
    this.boss = new PgBoss({
      connectionString: opts.connectionString,
      schema: this.schema,
      supervise: false,
      schedule: false,
      max: 4,
    });
    this.boss.on('error', (err) => opts.onError?.(err));
    this.pool = new pg.Pool({ connectionString: opts.connectionString, max: 4 });
    this.events.setMaxListeners(100);
  }

  /** Install/upgrade the pg-boss schema, create the queues and start listening for enqueue wake-ups. */
  static async open(opts: PgBossQueueOptions): Promise<PgBossQueue> {
    const q = new PgBossQueue(opts);
    await q.boss.start();
    await ensureRoundsTable(q.pool);
    await q.pool.query('create sequence if not exists atelier_job_id_seq');
    for (const t of opts.types ?? []) await q.ensureQueue(queueName(t));
    await q.listen();
    return q;
  }

  /** One connection LISTENs for enqueues anywhere; if it drops, it is re-opened with backoff. */
  private async listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.opts.connectionString });
    c.on('notification', () => this.events.emit('enqueued'));
    c.on('error', (err) => this.opts.onError?.(err));
    c.on('end', () => {
      if (!this.closed) this.relisten(500);
    });
    await c.connect();
    await c.query(`listen ${WAKE_CHANNEL}`);
    this.listener = c;
  }

  private relisten(delayMs: number): void {
    setTimeout(() => {
      if (this.closed) return;
      this.listen().then(
        () => this.events.emit('enqueued'), // enqueues during the gap went unheard: look now
        (err) => {
          this.opts.onError?.(err);
          this.relisten(Math.min(delayMs * 2, 30_000));
        },
      );
    }, delayMs).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
    await this.boss.stop({ graceful: false, wait: true, close: true });
    await this.pool.end();
  }

  private async ensureQueue(name: string): Promise<void> {
    if (this.knownQueues.has(name)) return;
    if (!(await this.boss.getQueue(name)))
      await this.boss.createQueue(name).catch(async (err) => {
        if (!(await this.boss.getQueue(name))) throw err; // lost a creation race to another process: fine
      });
    this.knownQueues.add(name);
  }

  async enqueue(o: EnqueueOptions): Promise<number> {
    const name = queueName(o.type);
    await this.ensureQueue(name);
    const round = await nextRound(this.pool, this.schema, name, o.accountId);
    const { rows } = await this.pool.query<{ id: string }>("select nextval('atelier_job_id_seq') as id");
    const id = Number(rows[0]!.id);
    const data: JobData = { accountId: o.accountId, subjectId: o.subjectId, payload: o.payload ?? {} };
    await this.boss.send(name, data as object, {
      id: uuidOfJobId(id),
      priority: -round,
      retryLimit: (o.maxAttempts ?? this.opts.maxAttempts) - 1,
      expireInSeconds: Math.max(1, Math.ceil(this.opts.leaseMs / 1000)),
      ...(o.runAt && { startAfter: o.runAt }),
    });
    await this.pool.query('select pg_notify($1, $2)', [WAKE_CHANNEL, name]);
    this.events.emit('enqueued');
    return id;
  }

  async claim(workerId: string, types: string[]): Promise<ClaimedJob | null> {
    // Rotate which type is asked first, so a long prompt backlog cannot keep training jobs waiting.
    const start = this.typeTurn++ % Math.max(1, types.length);
    for (let i = 0; i < types.length; i++) {
      const name = queueName(types[(start + i) % types.length]!);
      await this.ensureQueue(name);
      const [job] = await this.boss.fetch<JobData>(name, { batchSize: 1 });
      if (!job) continue;
      const { rows } = await this.pool.query<JobRow>(
        `update ${this.schema}.job set output = jsonb_build_object('owner', $3::text)
         where name = $1 and id = $2 and state = 'active'
         returning id, name, data, retry_count, retry_limit`,
        [name, job.id, workerId],
      );
      if (rows[0]) return toClaimed(rows[0]);
    }
    return null;
  }

  /** Guarded update of a job this worker holds; returns whether it still held it. */
  private async ownedUpdate(jobId: number, workerId: string, set: string, extra: unknown[] = []) {
    const r = await this.pool.query<{ state: string }>(
      `update ${this.schema}.job set ${set}
       where id = $1 and state = 'active' and output->>'owner' = $2
       returning state`,
      [uuidOfJobId(jobId), workerId, ...extra],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async heartbeat(jobId: number, workerId: string): Promise<HeartbeatResult> {
    const ok = await this.ownedUpdate(
      jobId,
      workerId,
      `expire_in = (now() - started_on) + $3::int * interval '1 millisecond'`,
      [this.opts.leaseMs],
    );
    if (ok) return 'ok';
    const { rows } = await this.pool.query<{ state: string; owner: string | null }>(
      `select state, output->>'owner' as owner from ${this.schema}.job where id = $1`,
      [uuidOfJobId(jobId)],
    );
    return rows[0]?.state === 'cancelled' && rows[0].owner === workerId ? 'cancelled' : 'lost';
  }

  async complete(jobId: number, workerId: string): Promise<void> {
    await this.ownedUpdate(jobId, workerId, `state = 'completed', completed_on = now()`);
  }

  async fail(
    jobId: number,
    workerId: string,
    error: string,
    permanent: boolean,
  ): Promise<'retrying' | 'failed'> {
    // Same backoff formula as the embedded queue (queue.ts), computed here rather than by pg-boss so both modes
    // retry on one schedule; retry_count is the attempts used minus one.
    const { rows } = await this.pool.query<{ state: string }>(
      `update ${this.schema}.job set
         state = case when not $3 and retry_count < retry_limit then 'retry'::${this.schema}.job_state
                      else 'failed'::${this.schema}.job_state end,
         start_after = now() + $4::double precision * power(2, retry_count) * interval '1 millisecond',
         completed_on = case when not $3 and retry_count < retry_limit then null else now() end,
         output = jsonb_build_object('owner', $2::text, 'message', $5::text)
       where id = $1 and state = 'active' and output->>'owner' = $2
       returning state`,
      [uuidOfJobId(jobId), workerId, permanent, jobRetryDelayMs(this.opts.retryBaseMs, 1), error],
    );
    return rows[0]?.state === 'retry' ? 'retrying' : 'failed';
  }

  async release(jobId: number, workerId: string): Promise<void> {
    // started_on = null: pg-boss's fetch counts an attempt only when started_on is set, so this one is not counted.
    const ok = await this.ownedUpdate(
      jobId,
      workerId,
      `state = 'created', started_on = null, start_after = now(), output = null`,
    );
    if (ok) await this.pool.query('select pg_notify($1, $2)', [WAKE_CHANNEL, 'release']);
  }

  async cancelled(jobId: number, workerId: string): Promise<void> {
    // The job row is already `cancelled` (cancel() did it); a job still active was cancelled by its own handler.
    await this.ownedUpdate(jobId, workerId, `state = 'cancelled', completed_on = now()`);
  }

  async cancel(type: string, subjectId: number): Promise<void> {
    const { rows } = await this.pool.query<{ id: string; was: string }>(
      `with live as (
         select id, state from ${this.schema}.job
         where name = $1 and (data->>'subjectId')::bigint = $2 and state < 'completed' for update)
       update ${this.schema}.job j set state = 'cancelled', completed_on = now()
       from live where j.name = $1 and j.id = live.id
       returning j.id, live.state::text as was`,
      [queueName(type), subjectId],
    );
    const running = rows.filter((r) => r.was === 'active').map((r) => jobIdOfUuid(r.id));
    if (running.length) this.events.emit('cancel', running);
  }

  async reapExpired(): Promise<ClaimedJob[]> {
    await this.deleteOldFinished();
    const { rows } = await this.pool.query<JobRow & { state: string }>(
      `update ${this.schema}.job set
         state = case when retry_count < retry_limit then 'retry'::${this.schema}.job_state
                      else 'failed'::${this.schema}.job_state end,
         start_after = now(),
         completed_on = case when retry_count < retry_limit then null else now() end,
         output = jsonb_build_object('message', 'lease expired')
       where name like $1 and state = 'active' and started_on + expire_in < now()
       returning id, name, data, retry_count, retry_limit, state::text as state`,
      [`${QUEUE_PREFIX}%`],
    );
    return rows.filter((r) => r.state === 'failed').map(toClaimed);
  }

  /**
   * pg-boss's supervisor (which archives and deletes) is off, so finished jobs are deleted here, at most once an
   * hour per process, once they are older than `keepFinishedDays`.
   */
  private async deleteOldFinished(): Promise<void> {
    if (Date.now() - this.lastCleanup < 3_600_000) return;
    this.lastCleanup = Date.now();
    await this.pool.query(
      `delete from ${this.schema}.job where name like $1 and state in ('completed', 'cancelled', 'failed')
       and completed_on < now() - $2::int * interval '1 day'`,
      [`${QUEUE_PREFIX}%`, this.opts.keepFinishedDays ?? 7],
    );
  }

  /**
   * pg-boss fetches a queue in `priority desc, created_on, id` order (priority = −fair round), so within the
   * job's own type the position is exact. Across types it is not: each worker's claim rotates which type it asks
   * first, per process, so jobs of the other types in `among` may be interleaved ahead of it; they are not counted.
   */
  async positions(type: string, subjectIds: number[], _among: string[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (!subjectIds.length) return out;
    // o is ahead of t: higher priority, or equal priority and earlier (created_on, id), as one row comparison.
    const { rows } = await this.pool.query<{ s: string; pos: string }>(
      `select (t.data->>'subjectId')::bigint as s,
         (select count(*) from ${this.schema}.job o
          where o.name = t.name and o.state < 'active' and o.start_after < now()
            and (o.priority, t.created_on, t.id) > (t.priority, o.created_on, o.id)) + 1 as pos
       from ${this.schema}.job t
       where t.name = $1 and (t.data->>'subjectId')::bigint = any($2::bigint[])
         and t.state < 'active' and t.start_after < now()`,
      [queueName(type), subjectIds],
    );
    for (const r of rows) out.set(Number(r.s), Number(r.pos));
    return out;
  }

  async nextDueAt(types: string[]): Promise<Date | null> {
    const { rows } = await this.pool.query<{ next: Date | null }>(
      `select min(start_after) as next from ${this.schema}.job where name = any($1) and state < 'active'`,
      [types.map(queueName)],
    );
    return rows[0]?.next ?? null;
  }

  /**
   * Which of these subjects have a job of this type (in any state). For callers that must not enqueue twice, e.g.
   * src/domain/packs.ts, which today reads the embedded `jobs` table for this and so sees nothing in pgboss mode.
   */
  async subjectsWithJobs(type: string, subjectIds: number[]): Promise<Set<number>> {
    if (!subjectIds.length) return new Set();
    const { rows } = await this.pool.query<{ s: string }>(
      `select distinct (data->>'subjectId')::bigint as s from ${this.schema}.job
       where name = $1 and (data->>'subjectId')::bigint = any($2::bigint[])`,
      [queueName(type), subjectIds],
    );
    return new Set(rows.map((r) => Number(r.s)));
  }

  /** Jobs per type and pg-boss state (for /metrics and /healthz). */
  async depth(): Promise<{ type: string; state: string; count: number }[]> {
    const { rows } = await this.pool.query<{ name: string; state: string; n: string }>(
      `select name, state::text as state, count(*) as n from ${this.schema}.job where name like $1
       group by name, state`,
      [`${QUEUE_PREFIX}%`],
    );
    return rows.map((r) => ({ type: typeOf(r.name), state: r.state, count: Number(r.n) }));
  }

  /** Claim-to-completion seconds of the most recently completed jobs (for /metrics). */
  async recentDurations(limit: number): Promise<{ type: string; seconds: number }[]> {
    const { rows } = await this.pool.query<{ name: string; seconds: number }>(
      `select name, extract(epoch from completed_on - started_on)::float8 as seconds from ${this.schema}.job
       where name like $1 and state = 'completed' and started_on is not null
       order by completed_on desc limit $2`,
      [`${QUEUE_PREFIX}%`, limit],
    );
    return rows.map((r) => ({ type: typeOf(r.name), seconds: Number(r.seconds) }));
  }

  on(event: 'enqueued', fn: () => void): () => void;
  on(event: 'cancel', fn: (jobIds: number[]) => void): () => void;
  on(event: string, fn: (...args: never[]) => void): () => void {
    const listener = fn as (...args: unknown[]) => void;
    this.events.on(event, listener);
    return () => this.events.off(event, listener);
  }
}
