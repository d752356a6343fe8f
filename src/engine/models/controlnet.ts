// ControlNet (Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion Models"):
// a trainable copy of the UNet's encoder (time embedding, conv_in, down blocks, mid block) whose input is
// the noisy latent plus an embedding of the control image (a small strided conv stack), and whose outputs
// go through zero-initialised 1x1 convs to give one residual per UNet skip connection and one for the mid
// block. Every residual is multiplied by the conditioning scale; the UNet adds them (models/unet.ts
// `controlResiduals`).
// Ref: https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/controlnet.py
// Original (cldm) layout: https://github.com/lllyasviel/ControlNet/blob/main/cldm/cldm.py (ControlNet class:
// input_hint_block, zero_convs, middle_block_out).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { convertTensorName, type OriginalLayout, SD15_LAYOUT } from '../checkpoint/names.ts';
import { openComponentFolder } from '../checkpoint/open.ts';
import { SafetensorsFile } from '../checkpoint/safetensors.ts';
import {
  fileIdentity,
  type MappedTensor,
  MappedTensorSource,
  type TensorSource,
} from '../checkpoint/tensor-source.ts';
import type { Tensor } from '../components.ts';
import { assertDims } from '../components.ts';
import { GraphBuilder } from '../graph/builder.ts';
import { compileCached } from '../graph/cache.ts';
import { OrtSession, type SessionSettings } from '../ort.ts';
import type { TensorIndex } from './clip.ts';
import { type DownBlockType, UnetBlocks } from './unet.ts';

export interface ControlNetConfig {
  /** latent channels (4) */
  inChannels: number;
  /** control image channels (3) */
  conditioningChannels: number;
  /** widths of the control-image embedding stack; SD 1.5 ControlNets: 16, 32, 96, 256 */
  conditioningEmbeddingOutChannels: number[];
  /** diffusers `controlnet_conditioning_channel_order`: 'bgr' flips the control image's channels */
  channelOrder: 'rgb' | 'bgr';
  /** average each residual over H, W (shuffle-type ControlNets) */
  globalPoolConditions: boolean;
  blockOutChannels: number[];
  layersPerBlock: number;
  downBlockTypes: DownBlockType[];
  crossAttentionDim: number;
  /** attention heads per level (SD 1.5: 8) */
  headCounts: number[];
  transformerLayersPerBlock: number;
  useLinearProjection: boolean;
  normNumGroups: number;
  normEps: number;
  flipSinToCos: boolean;
  freqShift: number;
}

export interface ControlNetBuildOptions {
  /** fused MultiHeadAttention kernel, as in the UNet (default true) */
  fusedAttention?: boolean;
  /** also output `cond_embedding` (the control-image embedding added to conv_in's output; parity tests) */
  exposeCondEmbedding?: boolean;
}

export function controlNetConfigFromJson(j: Record<string, unknown>): ControlNetConfig {
  if (String(j._class_name ?? 'ControlNetModel') !== 'ControlNetModel')
    throw new Error(`not a ControlNet config (_class_name ${String(j._class_name)})`);
  const unsupported = ['class_embed_type', 'addition_embed_type', 'encoder_hid_dim'].filter(
    (k) => j[k] !== null && j[k] !== undefined,
  );
  if (unsupported.length)
    throw new Error(`ControlNet config uses unsupported options: ${unsupported.join(', ')}`);
  const blockOutChannels = (j.block_out_channels as number[]).map(Number);
  const down = (j.down_block_types as string[]) ?? [];
  for (const t of down) {
    if (t !== 'CrossAttnDownBlock2D' && t !== 'DownBlock2D')
      throw new Error(`ControlNet down block ${t} is not supported`);
  }
  const heads = j.num_attention_heads ?? j.attention_head_dim ?? 8; // diffusers: attention_head_dim = head COUNT
  const tl = j.transformer_layers_per_block ?? 1;
  if (Array.isArray(tl)) throw new Error('per-block transformer_layers_per_block is not supported');
  return {
    inChannels: Number(j.in_channels ?? 4),
    conditioningChannels: Number(j.conditioning_channels ?? 3),
    conditioningEmbeddingOutChannels: (
      (j.conditioning_embedding_out_channels as number[]) ?? [16, 32, 96, 256]
    ).map(Number),
    channelOrder: j.controlnet_conditioning_channel_order === 'bgr' ? 'bgr' : 'rgb',
    globalPoolConditions: Boolean(j.global_pool_conditions),
    blockOutChannels,
    layersPerBlock: Number(j.layers_per_block ?? 2),
    downBlockTypes: down as DownBlockType[],
    crossAttentionDim: Number(j.cross_attention_dim),
    headCounts: Array.isArray(heads) ? heads.map(Number) : blockOutChannels.map(() => Number(heads)),
    transformerLayersPerBlock: Number(tl),
    useLinearProjection: Boolean(j.use_linear_projection),
    normNumGroups: Number(j.norm_num_groups ?? 32),
    normEps: Number(j.norm_eps ?? 1e-5),
    flipSinToCos: j.flip_sin_to_cos === undefined ? true : Boolean(j.flip_sin_to_cos),
    freqShift: Number(j.freq_shift ?? 0),
  };
}

/**
 * Infers the config from tensor shapes (diffusers names under `prefix`). Like the UNet's detection, the
 * head count (8 per level for SD 1.x), norm groups and eps are not visible and take SD 1.x's values; the
 * channel order and global pooling are not visible either (rgb, off: every SD 1.5 ControlNet but shuffle).
 */
export function detectControlNetConfig(index: TensorIndex, prefix = ''): ControlNetConfig {
  const has = (n: string) => index.has(prefix + n);
  const shape = (n: string) => index.shape(prefix + n);
  if (!has('controlnet_cond_embedding.conv_in.weight'))
    throw new Error('not a ControlNet: no controlnet_cond_embedding.conv_in.weight');
  const blockOutChannels: number[] = [];
  while (has(`down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`))
    blockOutChannels.push(shape(`down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`)[0]);
  if (!blockOutChannels.length) throw new Error('no ControlNet down blocks found');
  let layersPerBlock = 0;
  while (has(`down_blocks.0.resnets.${layersPerBlock}.conv1.weight`)) layersPerBlock++;
  const downBlockTypes = blockOutChannels.map((_, i) =>
    has(`down_blocks.${i}.attentions.0.proj_in.weight`) ? 'CrossAttnDownBlock2D' : 'DownBlock2D',
  ) as DownBlockType[];
  const attn = 'mid_block.attentions.0';
  let transformerLayersPerBlock = 0;
  while (has(`${attn}.transformer_blocks.${transformerLayersPerBlock}.attn2.to_k.weight`))
    transformerLayersPerBlock++;
  const crossAttentionDim = shape(`${attn}.transformer_blocks.0.attn2.to_k.weight`)[1];
  // the embedding stack: conv_in, then per level a same-width conv and a strided widening conv
  const embed = [shape('controlnet_cond_embedding.conv_in.weight')[0]];
  for (let b = 1; has(`controlnet_cond_embedding.blocks.${b}.weight`); b += 2)
    embed.push(shape(`controlnet_cond_embedding.blocks.${b}.weight`)[0]);
  return {
    inChannels: shape('conv_in.weight')[1],
    conditioningChannels: shape('controlnet_cond_embedding.conv_in.weight')[1],
    conditioningEmbeddingOutChannels: embed,
    channelOrder: 'rgb',
    globalPoolConditions: false,
    blockOutChannels,
    layersPerBlock,
    downBlockTypes,
    crossAttentionDim,
    headCounts: blockOutChannels.map((c) => (crossAttentionDim === 1024 ? Math.max(1, c / 64) : 8)),
    transformerLayersPerBlock,
    useLinearProjection: shape(`${attn}.proj_in.weight`).length === 2,
    normNumGroups: 32,
    normEps: 1e-5,
    flipSinToCos: true,
    freqShift: 0,
  };
}

/** Residuals a ControlNet gives: conv_in's output, every resnet/attention output and every downsampler. */
export function controlNetResidualCount(cfg: ControlNetConfig): number {
  return 1 + cfg.blockOutChannels.length * cfg.layersPerBlock + (cfg.blockOutChannels.length - 1);
}

// ---- original (cldm) layout -> diffusers names ---------------------------------------------------------

const CLDM_PREFIX = 'control_model.';

/** True when the keys are an original-layout ControlNet, with or without the `control_model.` prefix. */
export function isOriginalControlNet(keys: readonly string[]): boolean {
  return keys.some((k) => /^(control_model\.)?input_hint_block\./.test(k));
}

/**
 * One original ControlNet key -> its diffusers name, or null when it is not a ControlNet tensor (a full cldm
 * training checkpoint also holds the frozen SD model under model.diffusion_model.*). The encoder copy uses
 * exactly the UNet's original naming, so it goes through the UNet's map; `hintConvs` is the number of convs
 * in input_hint_block (8 for SD 1.5: conv_in, 6 blocks, conv_out).
 */
export function convertControlNetName(
  key: string,
  hintConvs: number,
  layout: OriginalLayout = SD15_LAYOUT,
): string | null {
  const rest = key.startsWith(CLDM_PREFIX) ? key.slice(CLDM_PREFIX.length) : key;
  let m: RegExpExecArray | null;
  if ((m = /^input_hint_block\.(\d+)\.(weight|bias)$/.exec(rest))) {
    const conv = Number(m[1]) / 2; // odd indices are the SiLUs
    if (!Number.isInteger(conv)) return null;
    if (conv === 0) return `controlnet_cond_embedding.conv_in.${m[2]}`;
    if (conv === hintConvs - 1) return `controlnet_cond_embedding.conv_out.${m[2]}`;
    return `controlnet_cond_embedding.blocks.${conv - 1}.${m[2]}`;
  }
  if ((m = /^zero_convs\.(\d+)\.0\.(weight|bias)$/.exec(rest)))
    return `controlnet_down_blocks.${m[1]}.${m[2]}`;
  if ((m = /^middle_block_out\.0\.(weight|bias)$/.exec(rest))) return `controlnet_mid_block.${m[1]}`;
  if (/^(time_embed|input_blocks|middle_block)\./.test(rest))
    return convertTensorName(`model.diffusion_model.${rest}`, 'unet', layout);
  return null;
}

function originalSource(file: SafetensorsFile): MappedTensorSource {
  let keys = file.names();
  // a full cldm checkpoint: keep only the prefixed control model
  if (keys.some((k) => k.startsWith(CLDM_PREFIX))) keys = keys.filter((k) => k.startsWith(CLDM_PREFIX));
  const bare = (k: string) => (k.startsWith(CLDM_PREFIX) ? k.slice(CLDM_PREFIX.length) : k);
  let hintConvs = 0;
  let firstDownsampler = Number.POSITIVE_INFINITY;
  for (const k of keys) {
    const h = /^input_hint_block\.(\d+)\.weight$/.exec(bare(k));
    if (h) hintConvs = Math.max(hintConvs, Number(h[1]) / 2 + 1);
    const d = /^input_blocks\.(\d+)\.0\.op\./.exec(bare(k));
    if (d) firstDownsampler = Math.min(firstDownsampler, Number(d[1]));
  }
  const layout: OriginalLayout = {
    ...SD15_LAYOUT,
    unetLayersPerBlock: Number.isFinite(firstDownsampler)
      ? firstDownsampler - 1
      : SD15_LAYOUT.unetLayersPerBlock,
  };
  const table = new Map<string, MappedTensor>();
  for (const key of keys) {
    const name = convertControlNetName(key, hintConvs, layout);
    if (name) table.set(name, { file, key, shape: file.info(key).shape });
  }
  return new MappedTensorSource(table, `${fileIdentity(file)}#controlnet`);
}

export interface OpenedControlNet {
  source: TensorSource;
  config: ControlNetConfig;
  layout: 'diffusers' | 'original';
  close(): void;
}

/**
 * Opens a ControlNet checkpoint: a diffusers folder (config.json + diffusion_pytorch_model.safetensors), a
 * single diffusers-named .safetensors, or an original cldm .safetensors (`control_model.*` or bare keys).
 */
export function openControlNet(path: string): OpenedControlNet {
  if (!existsSync(path)) throw new Error(`ControlNet not found: ${path}`);
  if (statSync(path).isDirectory()) {
    const files: SafetensorsFile[] = [];
    const w = openComponentFolder(path, files);
    const close = () => {
      for (const f of files) f.close();
    };
    try {
      const config = w.configJson ? controlNetConfigFromJson(w.configJson) : detectControlNetConfig(w.source);
      return { source: w.source, config, layout: 'diffusers', close };
    } catch (e) {
      close();
      throw e;
    }
  }
  if (!path.endsWith('.safetensors'))
    throw new Error(`${path}: only .safetensors ControlNets are supported (pickled files are not loaded)`);
  const file = SafetensorsFile.open(path);
  try {
    const original = isOriginalControlNet(file.names());
    const source = original ? originalSource(file) : diffusersSingleFile(file);
    const sidecar = join(path, '..', 'config.json');
    const config =
      !original && existsSync(sidecar)
        ? controlNetConfigFromJson(JSON.parse(readFileSync(sidecar, 'utf8')))
        : detectControlNetConfig(source);
    return { source, config, layout: original ? 'original' : 'diffusers', close: () => file.close() };
  } catch (e) {
    file.close();
    throw e;
  }
}

function diffusersSingleFile(file: SafetensorsFile): MappedTensorSource {
  const table = new Map<string, MappedTensor>();
  for (const [key, info] of file.tensors) table.set(key, { file, key, shape: info.shape });
  return new MappedTensorSource(table, `${fileIdentity(file)}#controlnet`);
}

// ---- graph ---------------------------------------------------------------------------------------------

// The encoder is the UNet's own (models/unet.ts UnetBlocks: time embedding, down blocks, mid block); only the
// control-image embedding and the zero convs are the ControlNet's.
class ControlNetGraph {
  readonly g = new GraphBuilder('controlnet');
  readonly blocks: UnetBlocks;
  constructor(
    src: TensorSource,
    readonly cfg: ControlNetConfig,
    readonly opts: ControlNetBuildOptions,
  ) {
    this.blocks = new UnetBlocks(this.g, src, cfg, opts);
  }

  /** ControlNetConditioningEmbedding: conv_in, SiLU, (conv, SiLU, strided conv, SiLU) per level, conv_out. */
  condEmbedding(image: string): string {
    const { nn } = this.blocks;
    const p = 'controlnet_cond_embedding';
    let h = nn.silu(nn.conv2d(image, `${p}.conv_in`));
    const levels = this.cfg.conditioningEmbeddingOutChannels.length - 1;
    for (let i = 0; i < levels; i++) {
      h = nn.silu(nn.conv2d(h, `${p}.blocks.${2 * i}`));
      h = nn.silu(nn.conv2d(h, `${p}.blocks.${2 * i + 1}`, { stride: 2, pad: 1 }));
    }
    return nn.conv2d(h, `${p}.conv_out`);
  }

  build(): GraphBuilder {
    const { g, cfg, blocks } = this;
    const { nn } = blocks;
    const sample = g.input('sample', ['batch', cfg.inChannels, 'height', 'width']);
    const timestep = g.input('timestep', ['batch']);
    const context = g.input('encoder_hidden_states', ['batch', 'tokens', cfg.crossAttentionDim]);
    const cond = g.input('controlnet_cond', [
      'batch',
      cfg.conditioningChannels,
      'image_height',
      'image_width',
    ]);
    const scale = g.input('conditioning_scale', [1]);
    const tembAct = nn.silu(blocks.timeEmbedding(timestep));

    let image = cond;
    if (cfg.channelOrder === 'bgr')
      image = g.op('Slice', [
        cond,
        g.constInt64([-1]),
        g.constInt64([-(2 ** 31)]),
        g.constInt64([1]),
        g.constInt64([-1]),
      ]);
    const embedded = this.condEmbedding(image);
    if (this.opts.exposeCondEmbedding)
      g.output('cond_embedding', embedded, ['batch', cfg.blockOutChannels[0], 'height', 'width']);
    const res = blocks.downBlocks(g.op('Add', [nn.conv2d(sample, 'conv_in'), embedded]), tembAct, context);
    const mid = blocks.midBlock(res[res.length - 1], tembAct, context);

    // zero convs, then the conditioning scale as the last operation (diffusers' order)
    const finish = (x: string, conv: string) => {
      let y = g.op('Mul', [nn.conv2d(x, conv, { pad: 0 }), scale]);
      // global pooling after the scale, as diffusers does it (opset 17: ReduceMean takes axes as an attribute)
      if (cfg.globalPoolConditions) y = g.op('ReduceMean', [y], { axes: [2, 3], keepdims: 1 });
      return y;
    };
    res.forEach((r, k) => {
      g.output(`down_res_${k}`, finish(r, `controlnet_down_blocks.${k}`), [
        'batch',
        `c${k}`,
        `h${k}`,
        `w${k}`,
      ]);
    });
    g.output('mid_res', finish(mid, 'controlnet_mid_block'), ['batch', 'cm', 'hm', 'wm']);
    return g;
  }
}

/**
 * Inputs: `sample` [B, 4, h, w] (the scaled model input), `timestep` float32 [B], `encoder_hidden_states`
 * [B, T, cross], `controlnet_cond` [B, 3, 8h, 8w] in [0, 1], `conditioning_scale` [1].
 * Outputs: `down_res_0..N-1`, `mid_res` (already scaled), and `cond_embedding` when asked for.
 */
export function buildControlNetGraph(
  src: TensorSource,
  cfg: ControlNetConfig,
  opts: ControlNetBuildOptions = {},
): GraphBuilder {
  return new ControlNetGraph(src, cfg, opts).build();
}

// ---- shapes (tests write random-weight ControlNets from these) ------------------------------------------

/** Every tensor (diffusers name -> shape) of a ControlNet of this config. */
export function controlNetTensorShapes(cfg: ControlNetConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const conv = (p: string, o: number, i: number, k = 3) =>
    s.set(`${p}.weight`, [o, i, k, k]).set(`${p}.bias`, [o]);
  const lin = (p: string, o: number, i: number) => s.set(`${p}.weight`, [o, i]).set(`${p}.bias`, [o]);
  const norm = (p: string, c: number) => s.set(`${p}.weight`, [c]).set(`${p}.bias`, [c]);
  const boc = cfg.blockOutChannels;
  const temb = 4 * boc[0];
  conv('conv_in', boc[0], cfg.inChannels);
  lin('time_embedding.linear_1', temb, boc[0]);
  lin('time_embedding.linear_2', temb, temb);
  const emb = cfg.conditioningEmbeddingOutChannels;
  conv('controlnet_cond_embedding.conv_in', emb[0], cfg.conditioningChannels);
  for (let i = 0; i < emb.length - 1; i++) {
    conv(`controlnet_cond_embedding.blocks.${2 * i}`, emb[i], emb[i]);
    conv(`controlnet_cond_embedding.blocks.${2 * i + 1}`, emb[i + 1], emb[i]);
  }
  conv('controlnet_cond_embedding.conv_out', boc[0], emb[emb.length - 1]);
  const resnet = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cout, cin);
    lin(`${p}.time_emb_proj`, cout, temb);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout);
    if (cin !== cout) conv(`${p}.conv_shortcut`, cout, cin, 1);
  };
  const transformer = (p: string, c: number) => {
    const proj = (q: string) => (cfg.useLinearProjection ? lin(q, c, c) : conv(q, c, c, 1));
    norm(`${p}.norm`, c);
    proj(`${p}.proj_in`);
    for (let b = 0; b < cfg.transformerLayersPerBlock; b++) {
      const t = `${p}.transformer_blocks.${b}`;
      for (const n of ['norm1', 'norm2', 'norm3']) norm(`${t}.${n}`, c);
      for (const [a, kv] of [
        ['attn1', c],
        ['attn2', cfg.crossAttentionDim],
      ] as const) {
        s.set(`${t}.${a}.to_q.weight`, [c, c])
          .set(`${t}.${a}.to_k.weight`, [c, kv])
          .set(`${t}.${a}.to_v.weight`, [c, kv]);
        lin(`${t}.${a}.to_out.0`, c, c);
      }
      lin(`${t}.ff.net.0.proj`, 8 * c, c);
      lin(`${t}.ff.net.2`, c, 4 * c);
    }
    proj(`${p}.proj_out`);
  };
  let k = 0;
  conv(`controlnet_down_blocks.${k++}`, boc[0], boc[0], 1);
  let prev = boc[0];
  boc.forEach((out, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
      if (cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D')
        transformer(`down_blocks.${i}.attentions.${j}`, out);
      conv(`controlnet_down_blocks.${k++}`, out, out, 1);
    }
    if (i < boc.length - 1) {
      conv(`down_blocks.${i}.downsamplers.0.conv`, out, out);
      conv(`controlnet_down_blocks.${k++}`, out, out, 1);
    }
    prev = out;
  });
  const last = boc[boc.length - 1];
  resnet('mid_block.resnets.0', last, last);
  transformer('mid_block.attentions.0', last);
  resnet('mid_block.resnets.1', last, last);
  conv('controlnet_mid_block', last, last, 1);
  return s;
}

/**
 * Multiply-add FLOPs (2 per MAC) of one ControlNet evaluation at latent size h x w (control image 8h x 8w),
 * counted like unetFlops: convolutions, linear layers and the two attention products.
 */
export function controlNetFlops(
  cfg: ControlNetConfig,
  batch: number,
  h: number,
  w: number,
  tokens = 77,
): number {
  const shapes = controlNetTensorShapes(cfg);
  let flops = 0;
  const conv = (name: string, hw: number) => {
    const [o, i, kh, kw] = shapes.get(`${name}.weight`) as number[];
    flops += 2 * o * i * (kh ?? 1) * (kw ?? 1) * hw;
  };
  // control-image embedding: full image resolution, halved by each strided conv
  const emb = cfg.conditioningEmbeddingOutChannels;
  let ehw = 64 * h * w;
  conv('controlnet_cond_embedding.conv_in', ehw);
  for (let i = 0; i < emb.length - 1; i++) {
    conv(`controlnet_cond_embedding.blocks.${2 * i}`, ehw);
    ehw /= 4;
    conv(`controlnet_cond_embedding.blocks.${2 * i + 1}`, ehw);
  }
  conv('controlnet_cond_embedding.conv_out', ehw);
  const transformer = (p: string, c: number, hw: number) => {
    conv(`${p}.proj_in`, hw);
    conv(`${p}.proj_out`, hw);
    for (let b = 0; b < cfg.transformerLayersPerBlock; b++) {
      flops += 2 * hw * 18 * c * c + 4 * tokens * c * cfg.crossAttentionDim; // q,k,v,out (self) + q,out (cross) + GEGLU
      flops += 4 * hw * hw * c + 4 * hw * tokens * c;
    }
  };
  const resnet = (p: string, hw: number) => {
    conv(`${p}.conv1`, hw);
    conv(`${p}.conv2`, hw);
    if (shapes.has(`${p}.conv_shortcut.weight`)) conv(`${p}.conv_shortcut`, hw);
  };
  let hw = h * w;
  conv('conv_in', hw);
  let k = 0;
  conv(`controlnet_down_blocks.${k++}`, hw);
  cfg.blockOutChannels.forEach((c, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, hw);
      if (cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D')
        transformer(`down_blocks.${i}.attentions.${j}`, c, hw);
      conv(`controlnet_down_blocks.${k++}`, hw);
    }
    if (i < cfg.blockOutChannels.length - 1) {
      hw /= 4;
      conv(`down_blocks.${i}.downsamplers.0.conv`, hw);
      conv(`controlnet_down_blocks.${k++}`, hw);
    }
  });
  const last = cfg.blockOutChannels[cfg.blockOutChannels.length - 1];
  resnet('mid_block.resnets.0', hw);
  transformer('mid_block.attentions.0', last, hw);
  resnet('mid_block.resnets.1', hw);
  conv('controlnet_mid_block', hw);
  return flops * batch;
}

/** The SD 1.5 ControlNet configuration (lllyasviel/control_v11p_sd15_*). */
export const SD15_CONTROLNET: ControlNetConfig = {
  inChannels: 4,
  conditioningChannels: 3,
  conditioningEmbeddingOutChannels: [16, 32, 96, 256],
  channelOrder: 'rgb',
  globalPoolConditions: false,
  blockOutChannels: [320, 640, 1280, 1280],
  layersPerBlock: 2,
  downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  crossAttentionDim: 768,
  headCounts: [8, 8, 8, 8],
  transformerLayersPerBlock: 1,
  useLinearProjection: false,
  normNumGroups: 32,
  normEps: 1e-5,
  flipSinToCos: true,
  freqShift: 0,
};

// ---- runtime -------------------------------------------------------------------------------------------

export interface ControlNetResiduals {
  down: Tensor[];
  mid: Tensor;
}

/** A compiled ControlNet with its session. */
export class ControlNet {
  constructor(
    readonly config: ControlNetConfig,
    private readonly session: OrtSession,
  ) {}

  /**
   * sample [B, 4, h, w] (scaled model input), timestep for the batch or per sample, encoder states
   * [B, T, cross], control image NCHW [B, 3, 8h, 8w] in [0, 1] -> scaled residuals for the UNet.
   */
  async residuals(
    sample: Tensor,
    timestep: number | ArrayLike<number>,
    encoderHiddenStates: Tensor,
    controlImage: Tensor,
    scale: number,
  ): Promise<ControlNetResiduals & { condEmbedding?: Tensor }> {
    assertDims('controlnet sample', sample, 4);
    assertDims('controlnet control image', controlImage, 4);
    const batch = sample.dims[0];
    const t =
      typeof timestep === 'number' ? new Float32Array(batch).fill(timestep) : Float32Array.from(timestep);
    if (t.length !== batch) throw new Error(`controlnet: ${t.length} timesteps for a batch of ${batch}`);
    if (controlImage.dims[0] !== batch || encoderHiddenStates.dims[0] !== batch)
      throw new Error('controlnet: sample, encoder states and control image must have the same batch');
    const out = await this.session.run({
      sample,
      timestep: { data: t, dims: [batch] },
      encoder_hidden_states: encoderHiddenStates,
      controlnet_cond: controlImage,
      conditioning_scale: { data: Float32Array.of(scale), dims: [1] },
    });
    const down = Array.from({ length: controlNetResidualCount(this.config) }, (_, k) => out[`down_res_${k}`]);
    return { down, mid: out.mid_res, condEmbedding: out.cond_embedding };
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

/**
 * Part of the cache key beside graph/cache.ts's BUILDER_VERSION: bump when buildControlNetGraph changes what it
 * emits, so compiled ControlNets are rebuilt without invalidating every other cached graph.
 */
export const CONTROLNET_GRAPH_VERSION = 2; // 2: built from unet.ts UnetBlocks (node order only)

export interface LoadControlNetOptions {
  cacheDir: string;
  session?: SessionSettings;
  build?: ControlNetBuildOptions;
  overrides?: Partial<ControlNetConfig>;
}

/** Opens a ControlNet checkpoint (any supported layout), compiles (or reuses) its graph, opens a session. */
export async function loadControlNet(path: string, opts: LoadControlNetOptions): Promise<ControlNet> {
  const ck = openControlNet(path);
  let modelPath: string;
  const config = { ...ck.config, ...opts.overrides };
  try {
    const build = opts.build ?? {};
    modelPath = compileCached({
      cacheDir: opts.cacheDir,
      component: 'controlnet',
      identity: ck.source.identity(),
      options: { config, build, graph: CONTROLNET_GRAPH_VERSION },
      build: () => buildControlNetGraph(ck.source, config, build),
    }).modelPath;
  } finally {
    ck.close();
  }
  return new ControlNet(config, await OrtSession.create(modelPath, opts.session));
}
