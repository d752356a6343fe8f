// Queued work that has no job: a process that crashed between storing a prompt or tune row and enqueuing its job
// (two writes, possibly in two systems when the queue is pg-boss) leaves a row that no worker would ever take. The
// sweep finds such rows and enqueues them. Rows younger than `graceMs` are left alone: their creator may still be
// between the two writes, and enqueuing for it would run the work twice.
import { JOB_PROMPT, JOB_TRAIN, type Services } from '../domain/context.ts';
import { nowIso } from '../store/db.ts';
import { WakeableSleep } from './wakeable-sleep.ts';

export interface OrphanSweepResult {
  prompts: number[];
  tunes: number[];
}

/** One pass: enqueue queued prompts of ready tunes, and queued tunes, that are older than the grace and jobless. */
export async function enqueueOrphans(
  svc: Pick<Services, 'db' | 'queue'>,
  graceMs: number,
  now = Date.now(),
): Promise<OrphanSweepResult> {
  const cutoff = nowIso(now - graceMs);
  const prompts = await svc.db
    .selectFrom('prompts')
    .innerJoin('tunes', 'tunes.id', 'prompts.tune_id')
    .select(['prompts.id', 'prompts.account_id'])
    .where('prompts.status', '=', 'queued')
    .where('prompts.created_at', '<', cutoff)
    // a prompt on an untrained tune waits for training: it is released by the train job, not here
    .where((eb) => eb.or([eb('tunes.trained_at', 'is not', null), eb('tunes.account_id', 'is', null)]))
    .orderBy('prompts.id')
    .execute();
  const tunes = await svc.db
    .selectFrom('tunes')
    .select(['id', 'account_id'])
    .where('status', '=', 'queued')
    .where('account_id', 'is not', null)
    .where('created_at', '<', cutoff)
    .orderBy('id')
    .execute();
  const out: OrphanSweepResult = { prompts: [], tunes: [] };
  const promptJobs = await svc.queue.subjectsWithJobs(
    JOB_PROMPT,
    prompts.map((p) => p.id),
  );
  for (const p of prompts) {
    if (promptJobs.has(p.id)) continue;
    await svc.queue.enqueue({ type: JOB_PROMPT, accountId: p.account_id, subjectId: p.id });
    out.prompts.push(p.id);
  }
  const tuneJobs = await svc.queue.subjectsWithJobs(
    JOB_TRAIN,
    tunes.map((t) => t.id),
  );
  for (const t of tunes) {
    if (tuneJobs.has(t.id) || t.account_id === null) continue;
    await svc.queue.enqueue({ type: JOB_TRAIN, accountId: t.account_id, subjectId: t.id });
    out.tunes.push(t.id);
  }
  return out;
}

/** Runs `enqueueOrphans` at start and every `intervalMs` until stopped. */
export class OrphanSweeper {
  private readonly sleep = new WakeableSleep();
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly svc: Pick<Services, 'db' | 'queue' | 'log'>,
    private readonly opts: { intervalMs: number; graceMs: number },
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const r = await enqueueOrphans(this.svc, this.opts.graceMs);
          if (r.prompts.length || r.tunes.length)
            this.svc.log.warn(
              r,
              'enqueued jobless queued work (a process stopped between storing and enqueuing)',
            );
        } catch (err) {
          this.svc.log.error({ err }, 'orphan sweep failed');
        }
        await this.sleep.sleep(this.opts.intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleep.wake();
    await this.loop;
  }
}
