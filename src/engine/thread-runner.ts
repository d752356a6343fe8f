// Runs the pipelines on one worker thread that owns a ModelManager (see pipeline-runner.ts for why). Messages:
// main -> worker {generate, id, req} | {cancel, id, reason} | {stats, id} | {close};
// worker -> main {progress, id, p} | {done, id, result} | {failed, id, error} | {stats, id, stats}.
// Requests are handled concurrently in the worker; their network calls take turns on its thread. Cancellation
// reaches the worker between steps (its event loop runs between network calls) and aborts the run there.

import { Worker } from 'node:worker_threads';
import type { ModelManagerOptions, ModelManagerStats } from './model-manager.ts';
import type { PipelineRunner, RunProgress, RunRequest, RunResult } from './pipeline-runner.ts';

type FromWorker =
  | { type: 'progress'; id: number; p: RunProgress }
  | { type: 'done'; id: number; result: RunResult }
  | { type: 'failed'; id: number; error: { name: string; message: string } }
  | { type: 'stats'; id: number; stats: ModelManagerStats };

/**
 * The project runs TypeScript through tsx without a build step, and Node 20 does not apply the parent's
 * `--import tsx` hooks to worker threads: the worker registers tsx's loader itself before importing its entry.
 */
export const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

interface Pending {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  onProgress?: (p: RunProgress) => void;
}

export class ThreadRunner implements PipelineRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(options: ModelManagerOptions = {}) {
    this.worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData: { entry: new URL('./runner-worker.ts', import.meta.url).href, options },
    });
    this.worker.unref(); // an idle generator never keeps the process alive
    this.worker.on('message', (m: FromWorker) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') p.onProgress?.(m.p);
      else {
        this.pending.delete(m.id);
        if (this.pending.size === 0) this.worker.unref();
        if (m.type === 'failed') p.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
        else p.resolve((m.type === 'done' ? m.result : m.stats) as never);
      }
    });
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.on('exit', (code) => this.failAll(new Error(`generation thread exited (code ${code})`)));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call<T>(msg: Record<string, unknown>, onProgress?: (p: RunProgress) => void): [number, Promise<T>] {
    if (this.closed) throw new Error('generation thread is closed');
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject, onProgress });
    });
    this.worker.ref(); // keep the process alive while work is in flight
    this.worker.postMessage({ ...msg, id });
    return [id, done];
  }

  async run(req: RunRequest, signal: AbortSignal, onProgress: (p: RunProgress) => void): Promise<RunResult> {
    signal.throwIfAborted();
    const [id, done] = this.call<RunResult>({ type: 'generate', req }, onProgress);
    const cancel = () => {
      const reason = signal.reason instanceof Error ? signal.reason.message : 'aborted';
      this.worker.postMessage({ type: 'cancel', id, reason });
    };
    signal.addEventListener('abort', cancel, { once: true });
    try {
      return await done;
    } catch (e) {
      // the worker aborts with a plain error carrying the reason's message: rethrow the caller's own reason
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : e;
      throw e;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  stats(): Promise<ModelManagerStats> {
    return this.call<ModelManagerStats>({ type: 'stats' })[1];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.ref(); // wait for the thread to dispose its sessions and exit
    this.worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
    });
  }
}
