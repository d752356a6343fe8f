// CLIP text encoder (SD 1.x conditioning): token + position embeddings, pre-LN transformer with a causal
// mask, quick_gelu MLP, final LayerNorm.
// Ref: https://github.com/huggingface/transformers/blob/v4.30.0/src/transformers/models/clip/modeling_clip.py

import type { TensorSource } from '../checkpoint/tensor-source.ts';
import { GraphBuilder } from '../graph/builder.ts';
import { Layers } from '../graph/nn.ts';
import { DataType } from '../graph/onnx-proto.ts';

export type TensorIndex = Pick<TensorSource, 'names' | 'has' | 'shape'>;

export interface ClipConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  maxPositions: number;
  layerNormEps: number;
  hiddenAct: 'quick_gelu' | 'gelu';
}

const P = 'text_model.';

export function clipConfigFromJson(j: Record<string, unknown>): ClipConfig {
  const act = String(j.hidden_act ?? 'quick_gelu');
  if (act !== 'quick_gelu' && act !== 'gelu') throw new Error(`CLIP hidden_act ${act} is not supported`);
  return {
    vocabSize: Number(j.vocab_size),
    hiddenSize: Number(j.hidden_size),
    intermediateSize: Number(j.intermediate_size),
    numLayers: Number(j.num_hidden_layers),
    numHeads: Number(j.num_attention_heads),
    maxPositions: Number(j.max_position_embeddings),
    layerNormEps: Number(j.layer_norm_eps ?? 1e-5),
    hiddenAct: act,
  };
}

/**
 * Infers the config from tensor shapes alone. The head count is not visible in the weights: it is taken
 * as hidden/64 (head dim 64, CLIP ViT-L/14: 768 -> 12, the convention of every released CLIP text tower)
 * and 4 below 256 wide (the convention of the tiny random test models). Override when it differs.
 */
export function detectClipConfig(index: TensorIndex, prefix = ''): ClipConfig {
  const shape = (n: string) => index.shape(`${prefix}${P}${n}`);
  const [vocabSize, hiddenSize] = shape('embeddings.token_embedding.weight');
  let numLayers = 0;
  while (index.has(`${prefix}${P}encoder.layers.${numLayers}.mlp.fc1.weight`)) numLayers++;
  return {
    vocabSize,
    hiddenSize,
    intermediateSize: shape('encoder.layers.0.mlp.fc1.weight')[0],
    numLayers,
    numHeads: hiddenSize >= 256 ? Math.round(hiddenSize / 64) : 4,
    maxPositions: shape('embeddings.position_embedding.weight')[0],
    layerNormEps: 1e-5,
    hiddenAct: 'quick_gelu',
  };
}

// torch.finfo(float32).min, what transformers puts above the diagonal of the causal mask
const MASK_MIN = -3.4028234663852886e38;

/**
 * Inputs: `input_ids` int32 [batch, seq] (seq <= maxPositions).
 * Outputs: `last_hidden_state`, `penultimate_hidden_state` (raw output of the second-to-last layer) and
 * `penultimate_normed` (that through the final LayerNorm: diffusers' clip_skip=1 / A1111 "clip skip 2").
 */
export function buildClipGraph(src: TensorSource, cfg: ClipConfig): GraphBuilder {
  const g = new GraphBuilder('clip_text_encoder');
  const nn = new Layers(g, src);
  const ids = g.input('input_ids', ['batch', 'seq'], DataType.INT32);
  const seqLen = g.op('Slice', [g.op('Shape', [ids]), g.constInt64([1]), g.constInt64([2])]);
  const tokens = g.op('Gather', [nn.param(`${P}embeddings.token_embedding.weight`), ids], { axis: 0 });
  const positions = g.op('Slice', [
    nn.param(`${P}embeddings.position_embedding.weight`),
    g.constInt64([0]),
    seqLen,
    g.constInt64([0]),
  ]);
  let h = g.op('Add', [tokens, positions]);

  const Pn = cfg.maxPositions;
  const maskData = new Float32Array(Pn * Pn);
  for (let i = 0; i < Pn; i++) for (let j = i + 1; j < Pn; j++) maskData[i * Pn + j] = MASK_MIN;
  const seq2 = g.op('Concat', [seqLen, seqLen], { axis: 0 });
  const mask = g.op('Slice', [
    g.constFloat(maskData, [Pn, Pn]),
    g.constInt64([0, 0]),
    seq2,
    g.constInt64([0, 1]),
  ]);

  const headDim = cfg.hiddenSize / cfg.numHeads;
  let penultimate = h;
  for (let i = 0; i < cfg.numLayers; i++) {
    if (i === cfg.numLayers - 1) penultimate = h;
    const L = `${P}encoder.layers.${i}`;
    const x = nn.layerNorm(h, `${L}.layer_norm1`, cfg.layerNormEps);
    const q = nn.linear(x, `${L}.self_attn.q_proj`);
    const k = nn.linear(x, `${L}.self_attn.k_proj`);
    const v = nn.linear(x, `${L}.self_attn.v_proj`);
    const attn = nn.attention(q, k, v, cfg.numHeads, headDim, { scaleQuery: true, mask });
    h = g.op('Add', [h, nn.linear(attn, `${L}.self_attn.out_proj`)]);
    const y = nn.layerNorm(h, `${L}.layer_norm2`, cfg.layerNormEps);
    const fc1 = nn.linear(y, `${L}.mlp.fc1`);
    const act = cfg.hiddenAct === 'quick_gelu' ? nn.quickGelu(fc1) : nn.gelu(fc1);
    h = g.op('Add', [h, nn.linear(act, `${L}.mlp.fc2`)]);
  }
  const dims = ['batch', 'seq', cfg.hiddenSize];
  g.output('last_hidden_state', nn.layerNorm(h, `${P}final_layer_norm`, cfg.layerNormEps), dims);
  g.output('penultimate_hidden_state', penultimate, dims);
  g.output('penultimate_normed', nn.layerNorm(penultimate, `${P}final_layer_norm`, cfg.layerNormEps), dims);
  return g;
}

/** Every tensor (name -> shape) of a CLIPTextModel of this config (without the position_ids buffer). */
export function clipTensorShapes(cfg: ClipConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const H = cfg.hiddenSize;
  s.set(`${P}embeddings.token_embedding.weight`, [cfg.vocabSize, H]);
  s.set(`${P}embeddings.position_embedding.weight`, [cfg.maxPositions, H]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const L = `${P}encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2']) s.set(`${L}.${n}.weight`, [H]).set(`${L}.${n}.bias`, [H]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj'])
      s.set(`${L}.self_attn.${n}.weight`, [H, H]).set(`${L}.self_attn.${n}.bias`, [H]);
    s.set(`${L}.mlp.fc1.weight`, [cfg.intermediateSize, H]).set(`${L}.mlp.fc1.bias`, [cfg.intermediateSize]);
    s.set(`${L}.mlp.fc2.weight`, [H, cfg.intermediateSize]).set(`${L}.mlp.fc2.bias`, [H]);
  }
  s.set(`${P}final_layer_norm.weight`, [H]).set(`${P}final_layer_norm.bias`, [H]);
  return s;
}

export const SD15_CLIP: ClipConfig = {
  vocabSize: 49408,
  hiddenSize: 768,
  intermediateSize: 3072,
  numLayers: 12,
  numHeads: 12,
  maxPositions: 77,
  layerNormEps: 1e-5,
  hiddenAct: 'quick_gelu',
};
