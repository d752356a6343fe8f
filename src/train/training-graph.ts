// The LoRA training graph: the engine's UNet graph, LoRA branches injected on the target linears, the
// noise-prediction loss, and the reverse-mode backward pass for the LoRA matrices only, all in one ONNX
// model. A run takes the noisy latents, timesteps, text states, the regression target (noise for epsilon
// models, v for v-prediction models) and the current LoRA matrices, and returns the loss, the model output
// and d loss / d every LoRA matrix.
// Loss: Ho et al. 2020 (DDPM), eq. (14), "simple" objective mean ||target − model(x_t, t)||² over all values.

import type { TensorSource } from '../engine/checkpoint/tensor-source.ts';
import { appendBackward } from '../engine/graph/autodiff.ts';
import { inferShapes } from '../engine/graph/autodiff-ir.ts';
import type { GraphBuilder } from '../engine/graph/builder.ts';
import { compileCached } from '../engine/graph/cache.ts';
import {
  type InjectedLora,
  injectLora,
  kohyaUnetPrefix,
  unetAttentionModules,
} from '../engine/graph/lora-inject.ts';
import { buildUnetGraph, type UnetBuildOptions, type UnetConfig } from '../engine/models/unet.ts';

export interface TrainingGraphShape {
  batch: number;
  /** latent height / width (image size / 8) */
  height: number;
  width: number;
  tokens: number;
}

export interface LoraSpec {
  rank: number;
  alpha: number;
  /** also wrap the feed-forward linears (ff.net.0.proj, ff.net.2) */
  includeFeedForward: boolean;
}

export interface TrainingGraph {
  builder: GraphBuilder;
  loras: InjectedLora[];
}

export const LOSS_OUTPUT = 'loss';
export const MODEL_OUTPUT = 'out_sample';
export const TARGET_INPUT = 'target';
export const gradOutputName = (param: string): string => `grad.${param}`;

export function buildLoraTrainingGraph(
  src: TensorSource,
  cfg: UnetConfig,
  lora: LoraSpec,
  shape: TrainingGraphShape,
): TrainingGraph {
  // the fused com.microsoft.MultiHeadAttention kernel has no derivative rule: train on the explicit
  // MatMul/Softmax/MatMul attention (the intersection type keeps this valid before and after the engine
  // added the option)
  const build: UnetBuildOptions & { fusedAttention?: boolean } = { fusedAttention: false };
  const g = buildUnetGraph(src, cfg, build);
  const modules = unetAttentionModules(src.names(), lora.includeFeedForward);
  if (!modules.length) throw new Error('the UNet has no attention projections to train');
  const loras = injectLora(
    g,
    modules.map((module) => ({ module, rank: lora.rank, alpha: lora.alpha })),
  );
  const { batch, height, width, tokens } = shape;
  const target = g.input(TARGET_INPUT, [batch, cfg.outChannels, height, width]);
  const diff = g.op('Sub', [MODEL_OUTPUT, target]);
  const loss = g.op('ReduceMean', [g.op('Mul', [diff, diff])], { keepdims: 0 });
  g.output(LOSS_OUTPUT, loss, []);

  const inputDims: Record<string, number[]> = {
    sample: [batch, cfg.inChannels, height, width],
    timestep: [batch],
    encoder_hidden_states: [batch, tokens, cfg.crossAttentionDim],
    [TARGET_INPUT]: [batch, cfg.outChannels, height, width],
  };
  for (const l of loras) {
    inputDims[l.down] = l.downDims;
    inputDims[l.up] = l.upDims;
  }
  const shapes = inferShapes(g, inputDims);
  const params = loras.flatMap((l) => [l.down, l.up]);
  const grads = appendBackward(g, { loss, wrt: params, shapes });
  for (const p of params) g.output(gradOutputName(p), grads.get(p) as string, shapes.dims.get(p) as number[]);
  return { builder: g, loras };
}

/** Compiles (or finds in the graph cache) the training graph; returns the model path and the LoRA layout. */
export function compileLoraTrainingGraph(
  cacheDir: string,
  src: TensorSource,
  cfg: UnetConfig,
  lora: LoraSpec,
  shape: TrainingGraphShape,
): { modelPath: string; loras: InjectedLora[] } {
  const compiled = compileCached({
    cacheDir,
    component: 'lora-train-unet',
    identity: src.identity(),
    options: { cfg, lora, shape, version: TRAINING_GRAPH_VERSION },
    build: () => buildLoraTrainingGraph(src, cfg, lora, shape).builder,
  });
  return { modelPath: compiled.modelPath, loras: loraLayout(src, lora) };
}

/** The LoRA parameters injectLora creates for this UNet, without building the graph. */
export function loraLayout(src: TensorSource, lora: LoraSpec): InjectedLora[] {
  return unetAttentionModules(src.names(), lora.includeFeedForward).map((module) => {
    const [outF, inF] = src.shape(`${module}.weight`);
    const prefix = kohyaUnetPrefix(module);
    return {
      module,
      prefix,
      down: `${prefix}.lora_down.weight`,
      up: `${prefix}.lora_up.weight`,
      downDims: [lora.rank, inF],
      upDims: [outF, lora.rank],
      rank: lora.rank,
      alpha: lora.alpha,
    };
  });
}

/** Bump when the training graph (autodiff rules, loss, injection) changes what it emits. */
export const TRAINING_GRAPH_VERSION = 2;
