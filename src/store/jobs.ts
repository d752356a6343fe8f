// SQL of the embedded durable queue (src/jobs/embedded-queue.ts gives it meaning). Every statement is a single
// portable UPDATE/SELECT guarded by the row's current state, so several worker processes can share the table.
import { type ExpressionBuilder, sql } from 'kysely';
import type { QueueAccount } from '../jobs/queue-position.ts';
import { type Db, nowIso } from './db.ts';
import type { Database, Job, JobStatus } from './schema.ts';

export interface NewJobRow {
  type: string;
  accountId: number;
  subjectId: number;
  payload: unknown;
  maxAttempts: number;
  runAt?: string;
}

export async function insertJob(db: Db, j: NewJobRow): Promise<Job> {
  const now = nowIso();
  return db
    .insertInto('jobs')
    .values({
      type: j.type,
      account_id: j.accountId,
      subject_id: j.subjectId,
      payload: JSON.stringify(j.payload ?? {}),
      status: 'queued',
      run_at: j.runAt ?? now,
      attempts: 0,
      max_attempts: j.maxAttempts,
      cancel_requested: 0,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Running jobs whose lease ran out (their worker died or stalled): requeue them, or fail them when no attempt
 * is left. Returns the jobs failed here so the caller can run their failure hooks.
 */
export async function reapExpiredLeases(db: Db, now = nowIso()): Promise<Job[]> {
  await db
    .updateTable('jobs')
    .set({
      status: 'queued',
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
      last_error: 'lease expired',
    })
    .where('status', '=', 'running')
    .where('lease_expires_at', '<', now)
    .whereRef('attempts', '<', 'max_attempts')
    .where('cancel_requested', '=', 0)
    .execute();
  return db
    .updateTable('jobs')
    .set({
      status: 'failed',
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
      last_error: 'lease expired',
    })
    .where('status', '=', 'running')
    .where('lease_expires_at', '<', now)
    .returningAll()
    .execute();
}

/** Accounts with due queued jobs of `types`: their oldest due job (`first_id`) and how many are due. */
function dueByAccount(db: Db, types: string[], now: string) {
  return db
    .selectFrom('jobs')
    .select((eb) => ['account_id', eb.fn.min('id').as('first_id'), eb.fn.countAll().as('due')])
    .where('status', '=', 'queued')
    .where('run_at', '<=', now)
    .where('type', 'in', types)
    .groupBy('account_id');
}

/** Expressions evaluated per row of `dueByAccount` (aliased `a`). */
type AccountScope = ExpressionBuilder<Database & { a: { account_id: number } }, 'a'>;

/** The fair pick's first key: the account's running jobs (any type). */
const runningOf = (eb: AccountScope) =>
  eb
    .selectFrom('jobs as r')
    .select((e) => e.fn.countAll().as('n'))
    .whereRef('r.account_id', '=', 'a.account_id')
    .where('r.status', '=', 'running');

/** The fair pick's second key: the account's latest claim ('' when it never had one). */
const lastClaimOf = (eb: AccountScope) =>
  eb
    .selectFrom('jobs as s')
    .select(sql<string>`coalesce(max(s.claimed_at), '')`.as('last'))
    .whereRef('s.account_id', '=', 'a.account_id');

/**
 * Fair pick: among accounts with due queued jobs, prefer the account with the fewest running jobs, then the one
 * served least recently (most starved), then the one whose oldest due job is oldest; take that account's oldest
 * due job. So one account's 500 queued prompts alternate with another account's single prompt instead of running
 * first. The per-account figures are computed once per account with due work, not once per queued job, so the
 * cost grows with the number of waiting accounts rather than with the queue length.
 */
export async function pickNextJob(db: Db, types: string[], now = nowIso()): Promise<Job | undefined> {
  const pick = await db
    .selectFrom(dueByAccount(db, types, now).as('a'))
    .select(['a.first_id'])
    .orderBy(runningOf)
    .orderBy(lastClaimOf)
    .orderBy('a.first_id')
    .limit(1)
    .executeTakeFirst();
  if (!pick) return undefined;
  return db.selectFrom('jobs').selectAll().where('id', '=', Number(pick.first_id)).executeTakeFirst();
}

/** The fair pick's keys of every account with due work (src/jobs/queue-position.ts turns them into positions). */
export async function fairPickKeys(db: Db, types: string[], now = nowIso()): Promise<QueueAccount[]> {
  const rows = await db
    .selectFrom(dueByAccount(db, types, now).as('a'))
    .select((eb) => [
      'a.account_id',
      'a.first_id',
      'a.due',
      runningOf(eb).as('running'),
      lastClaimOf(eb).as('last_claim'),
    ])
    .execute();
  return rows.map((r) => ({
    accountId: Number(r.account_id),
    firstId: Number(r.first_id),
    due: Number(r.due),
    running: Number(r.running),
    lastClaim: String(r.last_claim ?? ''),
  }));
}

/**
 * The due queued job of `type` for each of `subjectIds`, with its rank among its account's due jobs of `types`
 * (1 = the account's oldest, which its next pick takes): per job, a count of its account's due jobs up to its id
 * (an index range on jobs_account_status), rather than numbering every due job of the account with a window
 * function and sorting them on each call (~2 ms per call at 1500 queued jobs, every POST and poll of a queued prompt).
 */
export async function dueJobRanks(
  db: Db,
  type: string,
  subjectIds: number[],
  types: string[],
  now = nowIso(),
): Promise<{ subjectId: number; accountId: number; rank: number }[]> {
  if (!subjectIds.length) return [];
  const rows = await db
    .selectFrom('jobs as t')
    .select((eb) => [
      't.subject_id',
      't.account_id',
      eb
        .selectFrom('jobs as d')
        .select((e) => e.fn.countAll().as('n'))
        .whereRef('d.account_id', '=', 't.account_id')
        .where('d.status', '=', 'queued')
        .whereRef('d.id', '<=', 't.id')
        .where('d.run_at', '<=', now)
        .where('d.type', 'in', types)
        .as('rank'),
    ])
    .where('t.type', '=', type)
    .where('t.subject_id', 'in', subjectIds)
    .where('t.status', '=', 'queued')
    .where('t.run_at', '<=', now)
    .where('t.type', 'in', types)
    .execute();
  return rows.map((r) => ({
    subjectId: Number(r.subject_id),
    accountId: Number(r.account_id),
    rank: Number(r.rank),
  }));
}

/** Take a picked job; false if another worker got it first. */
export async function tryClaimJob(
  db: Db,
  id: number,
  owner: string,
  leaseMs: number,
): Promise<Job | undefined> {
  const now = Date.now();
  return db
    .updateTable('jobs')
    .set((eb) => ({
      status: 'running',
      lease_owner: owner,
      lease_expires_at: nowIso(now + leaseMs),
      claimed_at: nowIso(now),
      attempts: eb('attempts', '+', 1),
      updated_at: nowIso(now),
    }))
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .returningAll()
    .executeTakeFirst();
}

/** Extend the lease; undefined when this worker no longer holds the job. */
export async function renewLease(
  db: Db,
  id: number,
  owner: string,
  leaseMs: number,
): Promise<Pick<Job, 'cancel_requested'> | undefined> {
  const now = Date.now();
  return db
    .updateTable('jobs')
    .set({ lease_expires_at: nowIso(now + leaseMs), updated_at: nowIso(now) })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .returning(['cancel_requested'])
    .executeTakeFirst();
}

export async function finishJob(
  db: Db,
  id: number,
  owner: string,
  status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>,
  error: string | null = null,
): Promise<boolean> {
  const r = await db
    .updateTable('jobs')
    .set({ status, last_error: error, lease_owner: null, lease_expires_at: null, updated_at: nowIso() })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function requeueJob(
  db: Db,
  id: number,
  owner: string,
  runAt: string,
  error: string,
): Promise<boolean> {
  const r = await db
    .updateTable('jobs')
    .set({ status: 'queued', run_at: runAt, last_error: error, lease_owner: null, lease_expires_at: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Give a running job back at once, uncounted (graceful worker shutdown): it is due again immediately. */
export async function releaseJob(db: Db, id: number, owner: string): Promise<boolean> {
  const now = nowIso();
  const r = await db
    .updateTable('jobs')
    .set((eb) => ({
      status: 'queued',
      run_at: now,
      attempts: eb('attempts', '-', 1),
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
    }))
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .where('cancel_requested', '=', 0)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Cancel the live jobs of a subject: queued ones at once, running ones by flag (their worker aborts). */
export async function cancelSubjectJobs(
  db: Db,
  type: string,
  subjectId: number,
): Promise<{ cancelledQueued: number; flaggedRunning: Job[] }> {
  const now = nowIso();
  const q = await db
    .updateTable('jobs')
    .set({ status: 'cancelled', updated_at: now })
    .where('type', '=', type)
    .where('subject_id', '=', subjectId)
    .where('status', '=', 'queued')
    .executeTakeFirst();
  const flaggedRunning = await db
    .updateTable('jobs')
    .set({ cancel_requested: 1, updated_at: now })
    .where('type', '=', type)
    .where('subject_id', '=', subjectId)
    .where('status', '=', 'running')
    .returningAll()
    .execute();
  return { cancelledQueued: Number(q.numUpdatedRows), flaggedRunning };
}

export async function getJob(db: Db, id: number): Promise<Job | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Earliest time a queued job becomes due, for the worker's idle sleep. */
export async function nextDueAt(db: Db, types: string[]): Promise<string | undefined> {
  const r = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.min('run_at').as('next'))
    .where('status', '=', 'queued')
    .where('type', 'in', types)
    .executeTakeFirst();
  return (r?.next as string | null) ?? undefined;
}

/** Subjects among `subjectIds` that have a job of `type`, in any state. */
export async function subjectsWithJobs(db: Db, type: string, subjectIds: number[]): Promise<number[]> {
  if (!subjectIds.length) return [];
  const rows = await db
    .selectFrom('jobs')
    .select('subject_id')
    .distinct()
    .where('type', '=', type)
    .where('subject_id', 'in', subjectIds)
    .execute();
  return rows.map((r) => r.subject_id);
}
