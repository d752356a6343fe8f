// Where generations run. onnxruntime-node's session.run executes on the calling JS thread (measured: no timer
// fires during an 8 s VAE decode), so running the pipelines on the main thread freezes the HTTP server and the job
// lease heartbeats for the whole of every network call. `ThreadRunner` (thread-runner.ts) runs them on a worker
// thread that owns the ModelManager; `InProcessRunner` runs them here (tests, tools, single-purpose processes).

import type { LoraRef, ModelManager, ModelManagerStats, ModelSpec } from './model-manager.ts';
import { imageBytes } from './pipeline/images.ts';
import { runPipeline } from './pipeline/registry.ts';
import type { GenerateOptions, PipelineProgress } from './pipeline/types.ts';

/** A generation request that can cross a thread boundary (plain data and typed arrays). */
export interface RunRequest {
  spec: ModelSpec;
  loras: LoraRef[];
  options: Omit<GenerateOptions, 'signal' | 'onProgress' | 'conditioning'>;
}

export interface RunResult {
  /** 8-bit interleaved RGB per image, options.width x options.height */
  rgb: Uint8Array[];
  /** true when the model (and LoRA set) was already loaded */
  reused: boolean;
}

export interface PipelineRunner {
  run(req: RunRequest, signal: AbortSignal, onProgress: (p: PipelineProgress) => void): Promise<RunResult>;
  stats(): Promise<ModelManagerStats>;
  close(): Promise<void>;
}

/** Acquire the model, run the task's pipeline, return 8-bit images; the lease is released whatever happens. */
export async function runOnModels(
  models: ModelManager,
  req: RunRequest,
  signal: AbortSignal,
  onProgress: (p: PipelineProgress) => void,
): Promise<RunResult> {
  const lease = await models.acquire(req.spec, req.loras);
  try {
    signal.throwIfAborted();
    const out = await runPipeline(lease.model, { ...req.options, signal, onProgress });
    const rgb = Array.from({ length: req.options.numImages }, (_, i) => imageBytes(out.images, i));
    return { rgb, reused: lease.reused };
  } finally {
    lease.release();
  }
}

export class InProcessRunner implements PipelineRunner {
  constructor(readonly models: ModelManager) {}
  run(req: RunRequest, signal: AbortSignal, onProgress: (p: PipelineProgress) => void): Promise<RunResult> {
    return runOnModels(this.models, req, signal, onProgress);
  }
  async stats(): Promise<ModelManagerStats> {
    return this.models.stats();
  }
  close(): Promise<void> {
    return this.models.close();
  }
}
