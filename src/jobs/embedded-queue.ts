// The embedded durable queue: rows in the application's database (src/store/jobs.ts holds the SQL). Jobs survive
// restarts; a claimed job carries a lease that the worker renews by heartbeat; an expired lease is taken again.
import { EventEmitter } from 'node:events';
import type { Db } from '../store/db.ts';
import { nowIso } from '../store/db.ts';
import * as sql from '../store/jobs.ts';
import type { Job } from '../store/schema.ts';
import {
  type ClaimedJob,
  type EnqueueOptions,
  type HeartbeatResult,
  type JobQueue,
  jobRetryDelayMs,
} from './queue.ts';
import { fairQueuePosition, type QueueAccount } from './queue-position.ts';

export interface EmbeddedQueueOptions {
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
}

/** How long the fair-pick keys behind queue positions are reused (see pickKeys). */
export const KEYS_MS = 1000;

const toClaimed = (j: Job): ClaimedJob => ({
  id: j.id,
  type: j.type,
  accountId: j.account_id,
  subjectId: j.subject_id,
  payload: JSON.parse(j.payload),
  attempts: j.attempts,
  maxAttempts: j.max_attempts,
});

export class EmbeddedQueue implements JobQueue {
  private readonly events = new EventEmitter();
  private readonly keys = new Map<string, { version: number; at: number; accounts: QueueAccount[] }>();
  private version = 0;

  constructor(
    private readonly db: Db,
    private readonly opts: EmbeddedQueueOptions,
  ) {
    this.events.setMaxListeners(100);
  }

  async enqueue(o: EnqueueOptions): Promise<number> {
    const job = await sql.insertJob(this.db, {
      type: o.type,
      accountId: o.accountId,
      subjectId: o.subjectId,
      payload: o.payload,
      maxAttempts: o.maxAttempts ?? this.opts.maxAttempts,
      runAt: o.runAt ? nowIso(o.runAt.getTime()) : undefined,
    });
    this.changed();
    this.events.emit('enqueued');
    return job.id;
  }

  async claim(workerId: string, types: string[]): Promise<ClaimedJob | null> {
    // A picked job may be taken by another worker between pick and claim: try the next pick a few times.
    for (let i = 0; i < 5; i++) {
      const pick = await sql.pickNextJob(this.db, types);
      if (!pick) return null;
      const got = await sql.tryClaimJob(this.db, pick.id, workerId, this.opts.leaseMs);
      if (got) {
        this.changed();
        return toClaimed(got);
      }
    }
    return null;
  }

  async heartbeat(jobId: number, workerId: string): Promise<HeartbeatResult> {
    const r = await sql.renewLease(this.db, jobId, workerId, this.opts.leaseMs);
    if (!r) return 'lost';
    return r.cancel_requested ? 'cancelled' : 'ok';
  }

  async complete(jobId: number, workerId: string): Promise<void> {
    await sql.finishJob(this.db, jobId, workerId, 'completed');
    this.changed();
  }

  async fail(
    jobId: number,
    workerId: string,
    error: string,
    permanent: boolean,
  ): Promise<'retrying' | 'failed'> {
    this.changed(); // the job leaves `running` either way
    const job = await sql.getJob(this.db, jobId);
    if (job && !permanent && job.attempts < job.max_attempts) {
      const runAt = nowIso(Date.now() + jobRetryDelayMs(this.opts.retryBaseMs, job.attempts));
      if (await sql.requeueJob(this.db, jobId, workerId, runAt, error)) return 'retrying';
    }
    await sql.finishJob(this.db, jobId, workerId, 'failed', error);
    return 'failed';
  }

  async release(jobId: number, workerId: string): Promise<void> {
    if (await sql.releaseJob(this.db, jobId, workerId)) {
      this.changed();
      this.events.emit('enqueued');
    }
  }

  async cancelled(jobId: number, workerId: string): Promise<void> {
    await sql.finishJob(this.db, jobId, workerId, 'cancelled', 'cancelled');
    this.changed();
  }

  async cancel(type: string, subjectId: number): Promise<void> {
    const { flaggedRunning } = await sql.cancelSubjectJobs(this.db, type, subjectId);
    this.changed();
    if (flaggedRunning.length)
      this.events.emit(
        'cancel',
        flaggedRunning.map((j) => j.id),
      );
  }

  async reapExpired(): Promise<ClaimedJob[]> {
    const failed = await sql.reapExpiredLeases(this.db);
    this.changed(); // requeued ones count again
    return failed.map(toClaimed);
  }

  async subjectsWithJobs(type: string, subjectIds: number[]): Promise<Set<number>> {
    return new Set(await sql.subjectsWithJobs(this.db, type, subjectIds));
  }

  async positions(type: string, subjectIds: number[], among: string[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (!subjectIds.length) return out;
    // One `now` for both reads, so a job turning due in between cannot be counted by one and not the other.
    const now = nowIso();
    const ranks = await sql.dueJobRanks(this.db, type, subjectIds, among, now);
    if (!ranks.length) return out;
    const accounts = await this.pickKeys(among, now);
    for (const r of ranks) {
      const pos = fairQueuePosition(accounts, r.accountId, r.rank);
      if (pos !== null) out.set(r.subjectId, pos);
    }
    return out;
  }

  /**
   * The accounts' fair-pick keys (a scan of every due job, as costly as a pick), kept for KEYS_MS: every open
   * event stream of a queued prompt asks for its position every 250 ms, and one read answers them all. This
   * queue's own enqueues, claims and settlements drop it at once; other processes' changes show within KEYS_MS.
   */
  private async pickKeys(among: string[], now: string): Promise<QueueAccount[]> {
    const key = [...among].sort().join(',');
    const cached = this.keys.get(key);
    if (cached && cached.version === this.version && Date.now() - cached.at < KEYS_MS) return cached.accounts;
    const version = this.version;
    const at = Date.now();
    const accounts = await sql.fairPickKeys(this.db, among, now);
    this.keys.set(key, { version, at, accounts });
    return accounts;
  }

  /** This queue changed the jobs table: positions must be read afresh. */
  private changed(): void {
    this.version++;
  }

  async nextDueAt(types: string[]): Promise<Date | null> {
    const at = await sql.nextDueAt(this.db, types);
    return at ? new Date(at) : null;
  }

  on(event: 'enqueued', fn: () => void): () => void;
  on(event: 'cancel', fn: (jobIds: number[]) => void): () => void;
  on(event: string, fn: (...args: never[]) => void): () => void {
    const listener = fn as (...args: unknown[]) => void;
    this.events.on(event, listener);
    return () => this.events.off(event, listener);
  }
}
