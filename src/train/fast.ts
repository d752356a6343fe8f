// branch=fast trainer: Astria's documented test mode (API.md §6). It performs no training and produces no
// weights: it waits a few seconds in steps (so progress and cancellation behave as for a real trainer) and
// reports itself as a mock.

import type {
  RunOptions,
  Trainer,
  TrainerCapabilities,
  TrainingRequest,
  TrainingResult,
} from '../domain/ports.ts';
import { throwIfAborted } from '../domain/ports.ts';
import { abortableSleep } from '../jobs/abortable-sleep.ts';

export class FastTrainer implements Trainer {
  readonly name = 'fast (mock trainer)';
  constructor(private readonly durationMs: number) {}

  capabilities(): TrainerCapabilities {
    return {
      branches: ['fast'],
      modelTypes: ['lora', 'faceid', 'pti', 'checkpoint'],
      features: [],
      mock: true,
    };
  }

  async train(req: TrainingRequest, opts: RunOptions): Promise<TrainingResult> {
    const steps = 10;
    for (let i = 1; i <= steps; i++) {
      throwIfAborted(opts.signal);
      await abortableSleep(this.durationMs / steps, opts.signal);
      opts.onProgress?.({ phase: 'training', step: i, total: steps });
    }
    return {
      weights: null,
      notes: [`mock: no training performed (${req.images.length} images, ${req.steps} steps recorded)`],
    };
  }
}
