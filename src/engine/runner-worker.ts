// The generation thread's entry (see thread-runner.ts): owns one ModelManager and runs requests on it.

import { parentPort, workerData } from 'node:worker_threads';
import { ModelManager, type ModelManagerOptions } from './model-manager.ts';
import { PostResources, type RunContext, type RunRequest, runOnModels } from './pipeline-runner.ts';

type ToWorker =
  | { type: 'generate'; id: number; req: RunRequest }
  | { type: 'cancel'; id: number; reason: string }
  | { type: 'stats'; id: number }
  | { type: 'close' };

const port = parentPort;
if (!port) throw new Error('runner-worker.ts must run as a worker thread');
const options = (workerData as { options: ModelManagerOptions }).options;
const models = new ModelManager(options);
// what the runner opens beside the ModelManager's models: the ControlNet (same cache and session settings as the
// ModelManager's, 'extended' as there) and the post stages' networks, kept for later prompts
const ctx: RunContext = {
  load: { cacheDir: options.cacheDir, session: { optimization: 'extended', ...options.session } },
  post: new PostResources({ cacheDir: options.cacheDir }),
};
const running = new Map<number, AbortController>();

port.on('message', async (m: ToWorker) => {
  if (m.type === 'cancel') {
    running.get(m.id)?.abort(new Error(m.reason));
    return;
  }
  if (m.type === 'stats') {
    port.postMessage({ type: 'stats', id: m.id, stats: models.stats() });
    return;
  }
  if (m.type === 'close') {
    for (const c of running.values()) c.abort(new Error('generation thread closing'));
    await ctx.post?.dispose();
    await models.close();
    port.close();
    return;
  }
  const ac = new AbortController();
  running.set(m.id, ac);
  try {
    const result = await runOnModels(
      models,
      m.req,
      ac.signal,
      (p) => port.postMessage({ type: 'progress', id: m.id, p }),
      ctx,
    );
    port.postMessage(
      { type: 'done', id: m.id, result },
      result.rgb.map((b) => b.buffer as ArrayBuffer),
    );
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: 'failed', id: m.id, error: { name: err.name, message: err.message } });
  } finally {
    running.delete(m.id);
  }
});
