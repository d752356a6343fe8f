// The worker loop: reap expired leases → claim fairly → perform with an AbortSignal and a heartbeat → settle.
// Errors are tagged with the job id and reported through `onError`; nothing is thrown out of the loop.
import { randomBytes } from 'node:crypto';
import { type ClaimedJob, type JobQueue, PermanentJobError } from './queue.ts';
import { WakeableSleep } from './wakeable-sleep.ts';

export interface JobContext {
  signal: AbortSignal;
}

export interface JobHandler {
  perform(job: ClaimedJob, ctx: JobContext): Promise<void>;
  /** The job failed for good (permanent error, attempts used up, or lease expired too often). */
  onFailed(job: ClaimedJob, message: string): Promise<void>;
  onCancelled?(job: ClaimedJob): Promise<void>;
}

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  onError?: (err: unknown, jobId?: number) => void;
}

class Cancelled extends Error {
  override name = 'AbortError';
}
class LeaseLost extends Error {
  override name = 'AbortError';
}
class Stopping extends Error {
  override name = 'AbortError';
}

export class Worker {
  readonly id = `w-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly running = new Map<number, AbortController>();
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private readonly idleSleep = new WakeableSleep();
  private lastReapAt = 0;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly queue: JobQueue,
    private readonly handlers: Record<string, JobHandler>,
    private readonly opts: WorkerOptions,
  ) {}

  start(): void {
    if (this.loopDone) return;
    this.unsubscribe.push(
      this.queue.on('enqueued', () => this.idleSleep.wake()),
      this.queue.on('cancel', (ids) => {
        for (const id of ids) this.running.get(id)?.abort(new Cancelled('cancelled'));
      }),
    );
    this.loopDone = this.loop();
  }

  /** Stop claiming, abort running jobs and hand them back to the queue uncounted, wait for the loop. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.running.values()) c.abort(new Stopping('worker stopping'));
    this.idleSleep.wake();
    await this.loopDone;
    for (const u of this.unsubscribe) u();
  }

  private async loop(): Promise<void> {
    const types = Object.keys(this.handlers);
    const inFlight = new Set<Promise<void>>();
    while (!this.stopping) {
      try {
        // A lease cannot expire sooner than leaseMs after its last renewal, so reaping every third of a lease
        // bounds detection at 4/3 of a lease while keeping the reaper's query off the per-job hot path.
        if (Date.now() - this.lastReapAt >= this.opts.leaseMs / 3) {
          this.lastReapAt = Date.now();
          for (const job of await this.queue.reapExpired())
            await this.settleFailed(job, 'the job stopped responding');
        }
        while (!this.stopping && inFlight.size < this.opts.concurrency) {
          const job = await this.queue.claim(this.id, types);
          if (!job) break;
          const p = this.run(job).finally(() => {
            inFlight.delete(p);
            this.idleSleep.wake();
          });
          inFlight.add(p);
        }
      } catch (err) {
        this.opts.onError?.(err);
      }
      if (!this.stopping) await this.idle(types);
    }
    await Promise.allSettled(inFlight);
  }

  /** Sleep until poll interval, the next due job, an enqueue, or a finished job — whichever comes first. */
  private async idle(types: string[]): Promise<void> {
    let ms = this.opts.pollMs;
    try {
      const due = await this.queue.nextDueAt(types);
      if (due) ms = Math.max(0, Math.min(ms, due.getTime() - Date.now()));
    } catch (err) {
      this.opts.onError?.(err);
    }
    await this.idleSleep.sleep(ms);
  }

  private async run(job: ClaimedJob): Promise<void> {
    const handler = this.handlers[job.type];
    const ctl = new AbortController();
    this.running.set(job.id, ctl);
    const beat = setInterval(
      () => {
        this.queue.heartbeat(job.id, this.id).then(
          (r) => {
            if (r === 'cancelled') ctl.abort(new Cancelled('cancelled'));
            else if (r === 'lost') ctl.abort(new LeaseLost('lease lost'));
          },
          (err) => this.opts.onError?.(err, job.id),
        );
      },
      Math.max(50, Math.floor(this.opts.leaseMs / 3)),
    );
    try {
      await handler.perform(job, { signal: ctl.signal });
      if (ctl.signal.reason instanceof Cancelled) throw ctl.signal.reason;
      await this.queue.complete(job.id, this.id);
    } catch (err) {
      await this.settleError(job, handler, ctl.signal, err);
    } finally {
      clearInterval(beat);
      this.running.delete(job.id);
    }
  }

  private async settleError(job: ClaimedJob, handler: JobHandler, signal: AbortSignal, err: unknown) {
    try {
      if (signal.reason instanceof Stopping) return this.queue.release(job.id, this.id); // due again at once
      if (signal.reason instanceof LeaseLost) return; // another worker owns it now
      if (signal.reason instanceof Cancelled) {
        await this.queue.cancelled(job.id, this.id);
        await handler.onCancelled?.(job);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentJobError;
      if (!permanent) this.opts.onError?.(err, job.id);
      const outcome = await this.queue.fail(job.id, this.id, message, permanent);
      if (outcome === 'failed')
        await handler.onFailed(job, permanent ? message : `internal error: ${message}`);
    } catch (e) {
      this.opts.onError?.(e, job.id);
    }
  }

  private async settleFailed(job: ClaimedJob, message: string): Promise<void> {
    try {
      await this.handlers[job.type]?.onFailed(job, message);
    } catch (err) {
      this.opts.onError?.(err, job.id);
    }
  }
}
