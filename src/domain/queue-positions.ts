// Queue positions of queued prompts and tunes for the API (ext `queue_position`): 1 = the next job a worker
// claims. Only the caller's own objects are looked up; the number itself is all that is said about the jobs
// ahead, which may belong to other accounts. Semantics per queue: JobQueue.positions (src/jobs/queue.ts).
import type { Prompt, Tune } from '../store/schema.ts';
import { JOB_PROMPT, JOB_TRAIN, type Services } from './context.ts';

/** The job types the worker claims together (src/cli/runtime.ts), so all of them share one queue order. */
export const WORKER_JOB_TYPES = [JOB_TRAIN, JOB_PROMPT];

async function positionsOf(
  svc: Pick<Services, 'queue'>,
  type: string,
  rows: { id: number; status: string }[],
): Promise<Map<number, number>> {
  const queued = rows.filter((r) => r.status === 'queued').map((r) => r.id);
  return queued.length ? svc.queue.positions(type, queued, WORKER_JOB_TYPES) : new Map();
}

/**
 * Prompt id → position, for the queued ones that have a due job. A prompt on a tune still training has no job
 * yet (its job is enqueued when the tune is trained), so it has no position.
 */
export const promptQueuePositions = (svc: Pick<Services, 'queue'>, prompts: Prompt[]) =>
  positionsOf(svc, JOB_PROMPT, prompts);

/** Tune id → position of its training job, for the queued tunes whose job is due. */
export const tuneQueuePositions = (svc: Pick<Services, 'queue'>, tunes: Tune[]) =>
  positionsOf(svc, JOB_TRAIN, tunes);
