// A tiny random-weight Stable Diffusion 2.x-shaped model in diffusers layout, written by the tests themselves
// (no SD 2.x parity fixture exists): what makes it SD 2.x rather than 1.x is all here, small —
// - text encoder: CLIPTextModel with hidden_act "gelu" (OpenCLIP; SD 1.x is quick_gelu), the layer count already
//   the penultimate one as diffusers' SD 2 config has it (23 of OpenCLIP's 24);
// - tokenizer: special_tokens_map.json pads with "!" (id 0) while tokenizer_config.json says <|endoftext|>, as in
//   stabilityai/stable-diffusion-2-1;
// - UNet: use_linear_projection, upcast_attention, attention_head_dim a per-level list (diffusers reads it as the
//   head COUNT per level), cross-attention as wide as the text encoder;
// - scheduler: v_prediction with trailing timestep spacing.
// The VAE is the sd-reference fixture's (SD 2.x uses the SD 1.x VAE).

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensors.ts';
import { type ClipConfig, clipTensorShapes } from '../../src/engine/models/clip.ts';
import { type UnetConfig, unetTensorShapes } from '../../src/engine/models/unet.ts';
import { fixturePath } from './fixtures.ts';

export const TINY_SD2_CLIP: ClipConfig = {
  vocabSize: 49408,
  hiddenSize: 32,
  intermediateSize: 37,
  numLayers: 3,
  numHeads: 2,
  maxPositions: 77,
  layerNormEps: 1e-5,
  hiddenAct: 'gelu',
};

export const TINY_SD2_UNET: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [32, 64],
  layersPerBlock: 1,
  downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  upBlockTypes: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  crossAttentionDim: 32,
  // head dim 16 at both levels, as SD 2.x keeps head dim 64 with [5, 10, 20, 20] heads
  headCounts: [2, 4],
  transformerLayersPerBlock: 1,
  useLinearProjection: true,
  normNumGroups: 8,
  normEps: 1e-5,
  flipSinToCos: true,
  freqShift: 0,
};

/** the unet/config.json an SD 2.x diffusers export writes, at the tiny sizes */
export const TINY_SD2_UNET_JSON = {
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.27.2',
  act_fn: 'silu',
  attention_head_dim: TINY_SD2_UNET.headCounts,
  block_out_channels: TINY_SD2_UNET.blockOutChannels,
  center_input_sample: false,
  cross_attention_dim: TINY_SD2_UNET.crossAttentionDim,
  down_block_types: TINY_SD2_UNET.downBlockTypes,
  downsample_padding: 1,
  dual_cross_attention: false,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: TINY_SD2_UNET.layersPerBlock,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: TINY_SD2_UNET.normNumGroups,
  num_class_embeds: null,
  only_cross_attention: false,
  out_channels: 4,
  sample_size: 96,
  up_block_types: TINY_SD2_UNET.upBlockTypes,
  upcast_attention: true,
  use_linear_projection: true,
};

/** deterministic uniform [0, 1) (xorshift32) */
function uniform(seed: number): () => number {
  let x = (seed * 2654435761) | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** PyTorch-like init: U(±1/sqrt(fan_in)) for matrices and kernels, norm scales near 1, small biases. */
function randomWeights(shapes: Map<string, number[]>, seed: number) {
  const rand = uniform(seed);
  return [...shapes].map(([name, shape]) => {
    const n = shape.reduce((a, d) => a * d, 1);
    const data = new Float32Array(n);
    const isNormScale = /norm[^.]*\.weight$|layer_norm\d\.weight$/.test(name);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, d) => a * d, 1) : 1;
    const bound = name.includes('embedding.weight') ? 0.5 : shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.1;
    for (let i = 0; i < n; i++) data[i] = isNormScale ? 1 + 0.2 * (rand() - 0.5) : (2 * rand() - 1) * bound;
    return { name, dtype: 'F32' as const, shape, data };
  });
}

export interface TinySd2Options {
  predictionType?: 'v_prediction' | 'epsilon';
  timestepSpacing?: 'trailing' | 'leading' | 'linspace';
}

/** Writes the tiny SD 2.x diffusers folder into `dir` (created) and returns it. */
export function writeTinySd2(dir: string, opts: TinySd2Options = {}): string {
  const json = (p: string, v: unknown) => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), JSON.stringify(v, null, 2));
  };
  json('model_index.json', {
    _class_name: 'StableDiffusionPipeline',
    note: 'tiny random SD 2.x-shaped weights (test/helpers/tiny-sd2.ts)',
  });
  const c = TINY_SD2_CLIP;
  json('text_encoder/config.json', {
    architectures: ['CLIPTextModel'],
    hidden_act: c.hiddenAct,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    layer_norm_eps: c.layerNormEps,
    max_position_embeddings: c.maxPositions,
    model_type: 'clip_text_model',
    num_attention_heads: c.numHeads,
    num_hidden_layers: c.numLayers,
    pad_token_id: 1,
    projection_dim: 512,
    vocab_size: c.vocabSize,
  });
  writeSafetensors(join(dir, 'text_encoder', 'model.safetensors'), randomWeights(clipTensorShapes(c), 21));
  json('unet/config.json', TINY_SD2_UNET_JSON);
  writeSafetensors(
    join(dir, 'unet', 'diffusion_pytorch_model.safetensors'),
    randomWeights(unetTensorShapes(TINY_SD2_UNET), 22),
  );
  mkdirSync(join(dir, 'vae'), { recursive: true });
  for (const f of ['config.json', 'diffusion_pytorch_model.safetensors'])
    copyFileSync(fixturePath('sd-reference', 'model', 'vae', f), join(dir, 'vae', f));
  mkdirSync(join(dir, 'tokenizer'), { recursive: true });
  for (const f of ['vocab.json', 'merges.txt'])
    copyFileSync(fixturePath('clip-tokenizer', f), join(dir, 'tokenizer', f));
  const special = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
  json('tokenizer/special_tokens_map.json', { ...special, pad_token: '!' });
  json('tokenizer/tokenizer_config.json', {
    ...special,
    pad_token: '<|endoftext|>',
    model_max_length: 77,
    tokenizer_class: 'CLIPTokenizer',
  });
  json('scheduler/scheduler_config.json', {
    _class_name: 'EulerDiscreteScheduler',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    num_train_timesteps: 1000,
    prediction_type: opts.predictionType ?? 'v_prediction',
    steps_offset: 1,
    timestep_spacing: opts.timestepSpacing ?? 'trailing',
  });
  return dir;
}
