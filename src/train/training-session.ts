// One compiled LoRA training graph opened in onnxruntime: feed a batch and the current LoRA matrices, get
// the loss, the model output and every LoRA gradient back from a single run.

import type { TensorSource } from '../engine/checkpoint/tensor-source.ts';
import type { Tensor } from '../engine/components.ts';
import type { InjectedLora } from '../engine/graph/lora-inject.ts';
import type { UnetConfig } from '../engine/models/unet.ts';
import { type Feed, OrtSession, type SessionSettings } from '../engine/ort.ts';
import {
  compileLoraTrainingGraph,
  gradOutputName,
  LOSS_OUTPUT,
  type LoraSpec,
  MODEL_OUTPUT,
  TARGET_INPUT,
  type TrainingGraphShape,
} from './training-graph.ts';

export interface TrainingBatch {
  /** noisy latents x_t [B, C, h, w] */
  sample: Tensor;
  /** one (integer) timestep per sample */
  timesteps: Float32Array;
  encoderHiddenStates: Tensor;
  /** regression target: the noise (epsilon) or v */
  target: Tensor;
}

export interface StepResult {
  loss: number;
  output: Tensor;
  grads: Map<string, Float32Array>;
}

export class LoraTrainingSession {
  private constructor(
    private readonly session: OrtSession,
    readonly loras: InjectedLora[],
    readonly shape: TrainingGraphShape,
  ) {}

  static async open(opts: {
    cacheDir: string;
    source: TensorSource;
    config: UnetConfig;
    lora: LoraSpec;
    shape: TrainingGraphShape;
    session?: SessionSettings;
  }): Promise<LoraTrainingSession> {
    const { modelPath, loras } = compileLoraTrainingGraph(
      opts.cacheDir,
      opts.source,
      opts.config,
      opts.lora,
      opts.shape,
    );
    // 'basic' (constant folding, redundant-node removal): the extended fusions target inference patterns;
    // on the tiny fixture's training graph session start took the same time with 'basic' and 'all'
    const session = await OrtSession.create(modelPath, { optimization: 'basic', ...opts.session });
    return new LoraTrainingSession(session, loras, opts.shape);
  }

  /** parameter names in a stable order (down, up per layer) */
  paramNames(): string[] {
    return this.loras.flatMap((l) => [l.down, l.up]);
  }

  async run(batch: TrainingBatch, params: Map<string, Float32Array>): Promise<StepResult> {
    const feeds: Record<string, Feed> = {
      sample: batch.sample,
      timestep: { data: batch.timesteps, dims: [batch.timesteps.length] },
      encoder_hidden_states: batch.encoderHiddenStates,
      [TARGET_INPUT]: batch.target,
    };
    for (const l of this.loras) {
      feeds[l.down] = { data: mustGet(params, l.down), dims: l.downDims };
      feeds[l.up] = { data: mustGet(params, l.up), dims: l.upDims };
    }
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const name of this.paramNames()) grads.set(name, out[gradOutputName(name)].data);
    return { loss: out[LOSS_OUTPUT].data[0], output: out[MODEL_OUTPUT], grads };
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

function mustGet(params: Map<string, Float32Array>, name: string): Float32Array {
  const v = params.get(name);
  if (!v) throw new Error(`no value for LoRA parameter ${name}`);
  return v;
}
