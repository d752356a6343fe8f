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

/**
 * onnxruntime settings of the training graph. Every base weight is used twice in it (by its forward op and by
 * the backward op that takes the input gradient), so what onnxruntime does to constant weights at session start
 * keeps them twice: MLAS pre-packs each Conv/MatMul weight into its own layout while the original must stay for
 * the backward op (about one extra copy of the weights), and constant folding materialises each `Transpose(W)`
 * (0.2 GiB on SD 1.5). With both off the weights stay once, memory-mapped from the graph's weights file.
 * Measured on the random full-size SD 1.5 at 256x256 (docs/training.md "Performance"): peak RSS 7.80 -> 4.79 GiB,
 * session start 48.9 -> 13.2 s CPU, step 9.5 s CPU either way. The arena is off as in that measurement.
 */
export const TRAINING_SESSION_SETTINGS: SessionSettings = {
  optimization: 'disabled',
  cpuMemArena: false,
  configEntries: { 'session.disable_prepacking': '1' },
};

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
    const session = await OrtSession.create(modelPath, { ...TRAINING_SESSION_SETTINGS, ...opts.session });
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
