// The job queue seam. The embedded implementation (embedded-queue.ts) keeps jobs in the app's own database; a
// pg-boss adapter implements the same interface for multi-machine deployments.

export interface EnqueueOptions {
  type: string;
  accountId: number; // fairness is per account
  subjectId: number; // the tune or prompt the job works on
  payload?: unknown;
  maxAttempts?: number;
  runAt?: Date;
}

export interface ClaimedJob {
  id: number;
  type: string;
  accountId: number;
  subjectId: number;
  payload: unknown;
  attempts: number; // including the current one
  maxAttempts: number;
}

export type HeartbeatResult = 'ok' | 'cancelled' | 'lost';

export interface JobQueue {
  enqueue(o: EnqueueOptions): Promise<number>;
  /** Take the next job fairly across accounts; null when none is due. */
  claim(workerId: string, types: string[]): Promise<ClaimedJob | null>;
  /** Renew the lease. 'cancelled': stop the job; 'lost': another worker owns it now. */
  heartbeat(jobId: number, workerId: string): Promise<HeartbeatResult>;
  complete(jobId: number, workerId: string): Promise<void>;
  /** Transient failures are retried with backoff while attempts remain; returns what happened. */
  fail(jobId: number, workerId: string, error: string, permanent: boolean): Promise<'retrying' | 'failed'>;
  /** Hand a running job back without counting the attempt (the worker is shutting down). */
  release(jobId: number, workerId: string): Promise<void>;
  /** Acknowledge that a job stopped because it was cancelled. */
  cancelled(jobId: number, workerId: string): Promise<void>;
  /** Cancel the live jobs of a subject (queued ones at once, running ones through heartbeat / the signal). */
  cancel(type: string, subjectId: number): Promise<void>;
  /** Requeue jobs whose lease expired; returns those that ran out of attempts (now failed). */
  reapExpired(): Promise<ClaimedJob[]>;
  /** Which of these subjects already have a job of this type (any state): callers use it not to enqueue twice. */
  subjectsWithJobs(type: string, subjectIds: number[]): Promise<Set<number>>;
  /**
   * Where each subject's due queued job of `type` stands among the due jobs of `among` (the types the workers
   * claim): 1 = claimed next. Subjects without a due queued job are absent. A snapshot: running jobs finishing
   * and new enqueues move it (docs/jobs.md, "Queue position").
   */
  positions(type: string, subjectIds: number[], among: string[]): Promise<Map<number, number>>;
  /** Earliest time a queued job becomes due, if any. */
  nextDueAt(types: string[]): Promise<Date | null>;
  /** In-process wake-ups: a job was enqueued, or running jobs were asked to cancel. */
  on(event: 'enqueued', fn: () => void): () => void;
  on(event: 'cancel', fn: (jobIds: number[]) => void): () => void;
}

/** A failure that retrying cannot fix (bad input, a failed tune): fail now with this message as user_error. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/** Exponential backoff with full jitter: base·2^(attempt−1) · U(0.5, 1]. */
export function jobRetryDelayMs(baseMs: number, attempt: number, random: () => number = Math.random): number {
  return Math.round(baseMs * 2 ** Math.max(0, attempt - 1) * (0.5 + random() / 2));
}
