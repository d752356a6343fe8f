// UNet2DConditionModel (SD 1.x structure): sinusoidal timestep embedding, ResNet blocks with time
// conditioning, Transformer2D blocks (self-attention, cross-attention on the text states, GEGLU FF),
// skip connections from the down path to the up path, optional ControlNet residuals.
// Ref: https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/unets/unet_2d_condition.py

import type { TensorSource } from '../checkpoint/tensor-source.ts';
import { GraphBuilder } from '../graph/builder.ts';
import { Layers } from '../graph/nn.ts';
import type { TensorIndex } from './clip.ts';
import { attn2IpPrefixes, decoupledCrossAttention } from './ip-adapter.ts';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

export interface UnetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  crossAttentionDim: number;
  /** attention heads per resolution level (down order); SD1.5: 8 everywhere */
  headCounts: number[];
  transformerLayersPerBlock: number;
  useLinearProjection: boolean;
  normNumGroups: number;
  normEps: number;
  flipSinToCos: boolean;
  freqShift: number;
  predictionType?: 'epsilon' | 'v_prediction';
}

export interface UnetBuildOptions {
  /** add inputs `down_residual_<k>` (one per skip connection) and `mid_residual` (ControlNet) */
  controlResiduals?: boolean;
  /**
   * fused MultiHeadAttention kernel (see LayerOptions); default true: same results (max 1.4e-6 apart on
   * SD 1.5) and 20-25% faster at 512x512 on the CPU provider
   */
  fusedAttention?: boolean;
  /**
   * IP-Adapter (models/ip-adapter.ts): every attn2 becomes a decoupled cross-attention reading the adapter's
   * `ip_adapter.<n>.to_{k,v}_ip` (n in diffusers' processor order; the TensorSource must serve them), with
   * inputs `ip_tokens` [B, tokens, cross] and `ip_scale` [1] (a graph input: one session serves any weight)
   */
  ipAdapter?: boolean;
}

const SUPPORTED_DOWN = new Set(['CrossAttnDownBlock2D', 'DownBlock2D']);
const SUPPORTED_UP = new Set(['CrossAttnUpBlock2D', 'UpBlock2D']);

export function unetConfigFromJson(j: Record<string, unknown>): UnetConfig {
  const blockOutChannels = (j.block_out_channels as number[]).map(Number);
  const down = (j.down_block_types as string[]) ?? [];
  const up = (j.up_block_types as string[]) ?? [];
  for (const t of down) if (!SUPPORTED_DOWN.has(t)) throw new Error(`UNet down block ${t} is not supported`);
  for (const t of up) if (!SUPPORTED_UP.has(t)) throw new Error(`UNet up block ${t} is not supported`);
  const unsupported = [
    'class_embed_type',
    'addition_embed_type',
    'encoder_hid_dim',
    'time_cond_proj_dim',
  ].filter((k) => j[k] !== null && j[k] !== undefined);
  if (unsupported.length) throw new Error(`UNet config uses unsupported options: ${unsupported.join(', ')}`);
  const changed = nonDefaultOptions(j);
  if (changed.length) throw new Error(`UNet config uses unsupported options: ${changed.join(', ')}`);
  if ((j.mid_block_type ?? 'UNetMidBlock2DCrossAttn') !== 'UNetMidBlock2DCrossAttn') {
    throw new Error(`UNet mid block ${String(j.mid_block_type)} is not supported`);
  }
  // diffusers quirk: for SD 1.x/2.x `attention_head_dim` holds the head COUNT
  const heads = j.num_attention_heads ?? j.attention_head_dim ?? 8;
  const headCounts = Array.isArray(heads) ? heads.map(Number) : blockOutChannels.map(() => Number(heads));
  const tl = j.transformer_layers_per_block ?? 1;
  if (Array.isArray(tl)) throw new Error('per-block transformer_layers_per_block is not supported');
  return {
    inChannels: Number(j.in_channels),
    outChannels: Number(j.out_channels),
    blockOutChannels,
    layersPerBlock: Number(j.layers_per_block),
    downBlockTypes: down as DownBlockType[],
    upBlockTypes: up as UpBlockType[],
    crossAttentionDim: Number(j.cross_attention_dim),
    headCounts,
    transformerLayersPerBlock: Number(tl),
    useLinearProjection: Boolean(j.use_linear_projection),
    normNumGroups: Number(j.norm_num_groups ?? 32),
    normEps: Number(j.norm_eps ?? 1e-5),
    flipSinToCos: j.flip_sin_to_cos === undefined ? true : Boolean(j.flip_sin_to_cos),
    freqShift: Number(j.freq_shift ?? 0),
  };
}

/** What the graph builder implements for each option that changes the network; anything else is refused. */
const BUILT_DEFAULTS: Record<string, unknown> = {
  act_fn: 'silu',
  attention_type: 'default',
  center_input_sample: false,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  cross_attention_norm: null,
  dual_cross_attention: false,
  mid_block_only_cross_attention: null,
  mid_block_scale_factor: 1,
  resnet_out_scale_factor: 1,
  resnet_skip_time_act: false,
  resnet_time_scale_shift: 'default',
  time_embedding_act_fn: null,
  time_embedding_type: 'positional',
  timestep_post_act: null,
};

/**
 * Options of the config that differ from what the builder implements (absent = the default). `upcast_attention`
 * (SD 2.1) is accepted: it computes attention scores in float32 under fp16, and these graphs are float32 throughout.
 * `only_cross_attention` may be false or a list of false (SD 2.x writes the scalar).
 */
function nonDefaultOptions(j: Record<string, unknown>): string[] {
  const isOff = (v: unknown) => v === null || v === false;
  const off = Object.entries(BUILT_DEFAULTS)
    .filter(([k, d]) => j[k] !== undefined && j[k] !== d && !(isOff(d) && isOff(j[k])))
    .map(([k]) => `${k}=${JSON.stringify(j[k])}`);
  const oca = j.only_cross_attention;
  if (oca === true || (Array.isArray(oca) && oca.some(Boolean)))
    off.push(`only_cross_attention=${JSON.stringify(oca)}`);
  return off;
}

/**
 * Infers the config from tensor shapes (diffusers names under `prefix`). Not visible in the weights:
 * norm groups (32), eps (1e-5) and the head count: 8 per level for SD 1.x (any cross-attention width
 * other than 1024, which also covers the tiny test models) and channels/64 for SD 2.x (1024-wide OpenCLIP
 * context, head dim 64).
 */
export function detectUnetConfig(index: TensorIndex, prefix = ''): UnetConfig {
  const has = (n: string) => index.has(prefix + n);
  const shape = (n: string) => index.shape(prefix + n);
  const blockOutChannels: number[] = [];
  while (has(`down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`)) {
    blockOutChannels.push(shape(`down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`)[0]);
  }
  if (!blockOutChannels.length)
    throw new Error('no UNet down blocks found (down_blocks.0.resnets.0.conv1.weight)');
  let layersPerBlock = 0;
  while (has(`down_blocks.0.resnets.${layersPerBlock}.conv1.weight`)) layersPerBlock++;
  const downBlockTypes = blockOutChannels.map((_, i) =>
    has(`down_blocks.${i}.attentions.0.proj_in.weight`) ? 'CrossAttnDownBlock2D' : 'DownBlock2D',
  ) as DownBlockType[];
  const upBlockTypes = blockOutChannels.map((_, i) =>
    has(`up_blocks.${i}.attentions.0.proj_in.weight`) ? 'CrossAttnUpBlock2D' : 'UpBlock2D',
  ) as UpBlockType[];
  const attnPrefix = 'mid_block.attentions.0';
  let transformerLayersPerBlock = 0;
  while (has(`${attnPrefix}.transformer_blocks.${transformerLayersPerBlock}.attn2.to_k.weight`))
    transformerLayersPerBlock++;
  const crossAttentionDim = shape(`${attnPrefix}.transformer_blocks.0.attn2.to_k.weight`)[1];
  return {
    inChannels: shape('conv_in.weight')[1],
    outChannels: shape('conv_out.weight')[0],
    blockOutChannels,
    layersPerBlock,
    downBlockTypes,
    upBlockTypes,
    crossAttentionDim,
    headCounts: blockOutChannels.map((c) => (crossAttentionDim === 1024 ? Math.max(1, c / 64) : 8)),
    transformerLayersPerBlock,
    useLinearProjection: shape(`${attnPrefix}.proj_in.weight`).length === 2,
    normNumGroups: 32,
    normEps: 1e-5,
    flipSinToCos: true,
    freqShift: 0,
  };
}

/** diffusers get_timestep_embedding frequencies, rounded as torch float32 computes them */
export function timestepFrequencies(dim: number, freqShift: number): Float32Array {
  const half = dim / 2;
  const out = new Float32Array(half);
  const c = Math.fround(-Math.log(10000));
  for (let i = 0; i < half; i++) out[i] = Math.exp(Math.fround(Math.fround(c * i) / (half - freqShift)));
  return out;
}

/** The config fields the shared blocks read (a ControlNetConfig has them too). */
export type UnetBlockConfig = Pick<
  UnetConfig,
  | 'downBlockTypes'
  | 'layersPerBlock'
  | 'headCounts'
  | 'transformerLayersPerBlock'
  | 'useLinearProjection'
  | 'normNumGroups'
  | 'normEps'
  | 'flipSinToCos'
  | 'freqShift'
>;

/**
 * The UNet's modules as builders on one graph: ResnetBlock2D, Transformer2DModel (BasicTransformerBlocks:
 * self-attention, cross-attention, GEGLU), the sinusoidal time embedding, and the encoder half (down blocks,
 * mid block). The UNet graph and the ControlNet graph (controlnet.ts: a trainable copy of this encoder) are both
 * built from them, so the two cannot drift apart.
 */
export class UnetBlocks {
  readonly nn: Layers;
  /** IP-Adapter: attn2 path -> `ip_adapter.<n>`, and the graph inputs (set by the UNet build) */
  ip?: { prefixes: Map<string, string>; tokens: string; scale: string };
  constructor(
    readonly g: GraphBuilder,
    src: TensorSource,
    readonly cfg: UnetBlockConfig,
    opts: { fusedAttention?: boolean } = {},
  ) {
    this.nn = new Layers(g, src, { fusedAttention: opts.fusedAttention ?? true });
  }

  resnet(x: string, p: string, tembAct: string): string {
    const { g, nn, cfg } = this;
    let h = nn.conv2d(nn.silu(nn.groupNorm(x, `${p}.norm1`, cfg.normNumGroups, cfg.normEps)), `${p}.conv1`);
    const t = nn.linear(tembAct, `${p}.time_emb_proj`);
    h = g.op('Add', [h, g.op('Reshape', [t, g.constInt64([0, 0, 1, 1])])]);
    h = nn.conv2d(nn.silu(nn.groupNorm(h, `${p}.norm2`, cfg.normNumGroups, cfg.normEps)), `${p}.conv2`);
    const skip = nn.src.has(`${p}.conv_shortcut.weight`) ? nn.conv2d(x, `${p}.conv_shortcut`, { pad: 0 }) : x;
    return g.op('Add', [skip, h]);
  }

  transformer2d(x: string, p: string, heads: number, context: string): string {
    const { g, nn, cfg } = this;
    const inner = nn.shape(`${p}.proj_in.weight`)[0];
    const channels = nn.shape(`${p}.norm.weight`)[0];
    // Transformer2DModel's GroupNorm uses eps 1e-6 regardless of the UNet's norm_eps
    const normed = nn.groupNorm(x, `${p}.norm`, cfg.normNumGroups, 1e-6);
    let h = cfg.useLinearProjection
      ? nn.linear(nn.toTokens(normed, channels), `${p}.proj_in`)
      : nn.toTokens(nn.conv2d(normed, `${p}.proj_in`, { pad: 0 }), inner);
    for (let b = 0; b < cfg.transformerLayersPerBlock; b++) {
      h = this.basicTransformerBlock(h, `${p}.transformer_blocks.${b}`, heads, inner / heads, context);
    }
    const out = cfg.useLinearProjection
      ? nn.fromTokens(nn.linear(h, `${p}.proj_out`), x)
      : nn.conv2d(nn.fromTokens(h, x), `${p}.proj_out`, { pad: 0 });
    return g.op('Add', [out, x]);
  }

  basicTransformerBlock(h: string, p: string, heads: number, headDim: number, context: string): string {
    const { g, nn } = this;
    const attn = (x: string, ctx: string, a: string) => {
      const q = nn.linear(x, `${a}.to_q`);
      const k = nn.linear(ctx, `${a}.to_k`);
      const v = nn.linear(ctx, `${a}.to_v`);
      return nn.linear(nn.attention(q, k, v, heads, headDim), `${a}.to_out.0`);
    };
    let n = nn.layerNorm(h, `${p}.norm1`, 1e-5);
    h = g.op('Add', [attn(n, n, `${p}.attn1`), h]);
    n = nn.layerNorm(h, `${p}.norm2`, 1e-5);
    const ipPrefix = this.ip?.prefixes.get(`${p}.attn2`);
    const cross =
      this.ip && ipPrefix
        ? decoupledCrossAttention(
            nn,
            n,
            context,
            this.ip.tokens,
            `${p}.attn2`,
            ipPrefix,
            heads,
            this.ip.scale,
          )
        : attn(n, context, `${p}.attn2`);
    h = g.op('Add', [cross, h]);
    n = nn.layerNorm(h, `${p}.norm3`, 1e-5);
    // GEGLU: proj to 2*inner, first half * gelu(second half)
    const proj = nn.linear(n, `${p}.ff.net.0.proj`);
    const half = nn.shape(`${p}.ff.net.0.proj.weight`)[0] / 2;
    const [value, gate] = g.opMulti('Split', [proj, g.constInt64([half, half])], 2, { axis: -1 });
    const ff = nn.linear(g.op('Mul', [value, nn.gelu(gate)]), `${p}.ff.net.2`);
    return g.op('Add', [ff, h]);
  }

  timeEmbedding(t: string): string {
    const { g, nn, cfg } = this;
    const dim = nn.shape('time_embedding.linear_1.weight')[1];
    const freqs = timestepFrequencies(dim, cfg.freqShift);
    const args = g.op('Mul', [g.op('Unsqueeze', [t, g.constInt64([1])]), g.constFloat(freqs, [1, dim / 2])]);
    const sin = g.op('Sin', [args]);
    const cos = g.op('Cos', [args]);
    const emb = g.op('Concat', cfg.flipSinToCos ? [cos, sin] : [sin, cos], { axis: 1 });
    return nn.linear(nn.silu(nn.linear(emb, 'time_embedding.linear_1')), 'time_embedding.linear_2');
  }

  /**
   * The down blocks from `h` (conv_in's output): every skip connection, `h` first and the deepest last (the
   * deepest is also the mid block's input).
   */
  downBlocks(input: string, tembAct: string, context: string): string[] {
    const { nn, cfg } = this;
    let h = input;
    const skips: string[] = [h];
    cfg.downBlockTypes.forEach((type, i) => {
      for (let j = 0; j < cfg.layersPerBlock; j++) {
        h = this.resnet(h, `down_blocks.${i}.resnets.${j}`, tembAct);
        if (type === 'CrossAttnDownBlock2D')
          h = this.transformer2d(h, `down_blocks.${i}.attentions.${j}`, cfg.headCounts[i], context);
        skips.push(h);
      }
      if (nn.src.has(`down_blocks.${i}.downsamplers.0.conv.weight`)) {
        h = nn.conv2d(h, `down_blocks.${i}.downsamplers.0.conv`, { stride: 2, pad: 1 });
        skips.push(h);
      }
    });
    return skips;
  }

  /** UNetMidBlock2DCrossAttn: resnet, transformer, resnet (the deepest level's head count). */
  midBlock(input: string, tembAct: string, context: string): string {
    const last = this.cfg.headCounts[this.cfg.headCounts.length - 1];
    const h = this.resnet(input, 'mid_block.resnets.0', tembAct);
    return this.resnet(
      this.transformer2d(h, 'mid_block.attentions.0', last, context),
      'mid_block.resnets.1',
      tembAct,
    );
  }
}

/**
 * Inputs: `sample` [B, in, h, w], `timestep` float32 [B], `encoder_hidden_states` [B, 77, cross];
 * with `controlResiduals`, also `down_residual_<k>` and `mid_residual`; with `ipAdapter`, `ip_tokens` and
 * `ip_scale`. Output: `out_sample` [B, out, h, w].
 */
export function buildUnetGraph(
  src: TensorSource,
  cfg: UnetConfig,
  opts: UnetBuildOptions = {},
): GraphBuilder {
  const g = new GraphBuilder('unet');
  const u = new UnetBlocks(g, src, cfg, opts);
  const { nn } = u;
  const sample = g.input('sample', ['batch', cfg.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', ['batch']);
  const context = g.input('encoder_hidden_states', ['batch', 'tokens', cfg.crossAttentionDim]);
  if (opts.ipAdapter) {
    const prefixes = attn2IpPrefixes(cfg);
    const tokens = g.input('ip_tokens', ['batch', 'ip_tokens', cfg.crossAttentionDim]);
    u.ip = { prefixes, tokens, scale: g.input('ip_scale', [1]) };
  }
  const tembAct = nn.silu(u.timeEmbedding(timestep));

  const skips = u.downBlocks(nn.conv2d(sample, 'conv_in'), tembAct, context);
  let h = skips[skips.length - 1];
  if (opts.controlResiduals) {
    for (let k = 0; k < skips.length; k++) {
      const dims = ['batch', `c${k}`, `h${k}`, `w${k}`];
      skips[k] = g.op('Add', [skips[k], g.input(`down_residual_${k}`, dims)]);
    }
  }

  h = u.midBlock(h, tembAct, context);
  if (opts.controlResiduals) h = g.op('Add', [h, g.input('mid_residual', ['batch', 'cm', 'hm', 'wm'])]);

  const upHeads = [...cfg.headCounts].reverse();
  cfg.upBlockTypes.forEach((type, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const skip = skips.pop();
      if (!skip) throw new Error('UNet skip connections exhausted: inconsistent block structure');
      h = u.resnet(g.op('Concat', [h, skip], { axis: 1 }), `up_blocks.${i}.resnets.${j}`, tembAct);
      if (type === 'CrossAttnUpBlock2D')
        h = u.transformer2d(h, `up_blocks.${i}.attentions.${j}`, upHeads[i], context);
    }
    if (nn.src.has(`up_blocks.${i}.upsamplers.0.conv.weight`)) {
      h = nn.conv2d(nn.upsample2x(h), `up_blocks.${i}.upsamplers.0.conv`);
    }
  });
  h = nn.silu(nn.groupNorm(h, 'conv_norm_out', cfg.normNumGroups, cfg.normEps));
  g.output('out_sample', nn.conv2d(h, 'conv_out'), ['batch', cfg.outChannels, 'height', 'width']);
  return g;
}

/**
 * One Transformer2D block (diffusers Transformer2DModel: GroupNorm, proj_in, BasicTransformerBlocks, proj_out,
 * residual) of the UNet at `prefix` (e.g. `down_blocks.1.attentions.0`) as a graph of its own, exactly as the UNet
 * graph builds it: inputs `hidden` [B, C, h, w] and `encoder_hidden_states` [B, tokens, cross], output `out`.
 * For checking a block against a reference implementation.
 */
export function buildTransformer2dGraph(
  src: TensorSource,
  cfg: UnetConfig,
  prefix: string,
  heads: number,
  opts: UnetBuildOptions = {},
): GraphBuilder {
  const u = new UnetBlocks(new GraphBuilder('unet'), src, cfg, opts);
  const channels = src.shape(`${prefix}.norm.weight`)[0];
  const x = u.g.input('hidden', ['batch', channels, 'height', 'width']);
  const ctx = u.g.input('encoder_hidden_states', ['batch', 'tokens', cfg.crossAttentionDim]);
  u.g.output('out', u.transformer2d(x, prefix, heads, ctx), ['batch', channels, 'height', 'width']);
  return u.g;
}

/** Skip-connection count, i.e. how many `down_residual_<k>` inputs a ControlNet must provide. */
export function unetSkipCount(cfg: UnetConfig): number {
  return 1 + cfg.blockOutChannels.length * cfg.layersPerBlock + (cfg.blockOutChannels.length - 1);
}

type Shapes = Map<string, number[]>;

function addResnetShapes(s: Shapes, p: string, cin: number, cout: number, temb: number): void {
  s.set(`${p}.norm1.weight`, [cin]).set(`${p}.norm1.bias`, [cin]);
  s.set(`${p}.conv1.weight`, [cout, cin, 3, 3]).set(`${p}.conv1.bias`, [cout]);
  s.set(`${p}.time_emb_proj.weight`, [cout, temb]).set(`${p}.time_emb_proj.bias`, [cout]);
  s.set(`${p}.norm2.weight`, [cout]).set(`${p}.norm2.bias`, [cout]);
  s.set(`${p}.conv2.weight`, [cout, cout, 3, 3]).set(`${p}.conv2.bias`, [cout]);
  if (cin !== cout)
    s.set(`${p}.conv_shortcut.weight`, [cout, cin, 1, 1]).set(`${p}.conv_shortcut.bias`, [cout]);
}

function addTransformerShapes(s: Shapes, p: string, c: number, cfg: UnetConfig): void {
  const proj = cfg.useLinearProjection ? [c, c] : [c, c, 1, 1];
  s.set(`${p}.norm.weight`, [c]).set(`${p}.norm.bias`, [c]);
  s.set(`${p}.proj_in.weight`, proj).set(`${p}.proj_in.bias`, [c]);
  for (let b = 0; b < cfg.transformerLayersPerBlock; b++) {
    const t = `${p}.transformer_blocks.${b}`;
    for (const n of ['norm1', 'norm2', 'norm3']) s.set(`${t}.${n}.weight`, [c]).set(`${t}.${n}.bias`, [c]);
    for (const [a, kv] of [
      ['attn1', c],
      ['attn2', cfg.crossAttentionDim],
    ] as const) {
      s.set(`${t}.${a}.to_q.weight`, [c, c])
        .set(`${t}.${a}.to_k.weight`, [c, kv])
        .set(`${t}.${a}.to_v.weight`, [c, kv]);
      s.set(`${t}.${a}.to_out.0.weight`, [c, c]).set(`${t}.${a}.to_out.0.bias`, [c]);
    }
    s.set(`${t}.ff.net.0.proj.weight`, [8 * c, c]).set(`${t}.ff.net.0.proj.bias`, [8 * c]);
    s.set(`${t}.ff.net.2.weight`, [c, 4 * c]).set(`${t}.ff.net.2.bias`, [c]);
  }
  s.set(`${p}.proj_out.weight`, proj).set(`${p}.proj_out.bias`, [c]);
}

/** Every tensor (diffusers name -> shape) a UNet of this config has, as diffusers lays it out. */
export function unetTensorShapes(cfg: UnetConfig): Map<string, number[]> {
  const s: Shapes = new Map();
  const boc = cfg.blockOutChannels;
  const temb = 4 * boc[0];
  s.set('conv_in.weight', [boc[0], cfg.inChannels, 3, 3]).set('conv_in.bias', [boc[0]]);
  s.set('time_embedding.linear_1.weight', [temb, boc[0]]).set('time_embedding.linear_1.bias', [temb]);
  s.set('time_embedding.linear_2.weight', [temb, temb]).set('time_embedding.linear_2.bias', [temb]);
  let prev = boc[0];
  boc.forEach((out, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      addResnetShapes(s, `down_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out, temb);
      if (cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D')
        addTransformerShapes(s, `down_blocks.${i}.attentions.${j}`, out, cfg);
    }
    if (i < boc.length - 1) {
      s.set(`down_blocks.${i}.downsamplers.0.conv.weight`, [out, out, 3, 3]).set(
        `down_blocks.${i}.downsamplers.0.conv.bias`,
        [out],
      );
    }
    prev = out;
  });
  const last = boc[boc.length - 1];
  addResnetShapes(s, 'mid_block.resnets.0', last, last, temb);
  addTransformerShapes(s, 'mid_block.attentions.0', last, cfg);
  addResnetShapes(s, 'mid_block.resnets.1', last, last, temb);
  const rev = [...boc].reverse();
  let prevOut = rev[0];
  rev.forEach((out, i) => {
    const input = rev[Math.min(i + 1, rev.length - 1)];
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const skip = j === cfg.layersPerBlock ? input : out;
      addResnetShapes(s, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prevOut : out) + skip, out, temb);
      if (cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D')
        addTransformerShapes(s, `up_blocks.${i}.attentions.${j}`, out, cfg);
    }
    if (i < rev.length - 1) {
      s.set(`up_blocks.${i}.upsamplers.0.conv.weight`, [out, out, 3, 3]).set(
        `up_blocks.${i}.upsamplers.0.conv.bias`,
        [out],
      );
    }
    prevOut = out;
  });
  s.set('conv_norm_out.weight', [boc[0]]).set('conv_norm_out.bias', [boc[0]]);
  s.set('conv_out.weight', [cfg.outChannels, boc[0], 3, 3]).set('conv_out.bias', [cfg.outChannels]);
  return s;
}

/** The SD 1.5 UNet configuration (runwayml/stable-diffusion-v1-5). */
export const SD15_UNET: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [320, 640, 1280, 1280],
  layersPerBlock: 2,
  downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  crossAttentionDim: 768,
  headCounts: [8, 8, 8, 8],
  transformerLayersPerBlock: 1,
  useLinearProjection: false,
  normNumGroups: 32,
  normEps: 1e-5,
  flipSinToCos: true,
  freqShift: 0,
};

/**
 * Multiply-add FLOPs (2 per MAC) of one UNet evaluation: convolutions, linear layers and the two attention
 * products; norms and element-wise ops are left out (well under 1% for SD 1.5).
 */
export function unetFlops(
  cfg: UnetConfig,
  batch: number,
  height: number,
  width: number,
  contextTokens = 77,
): number {
  const shapes = unetTensorShapes(cfg);
  let flops = 0;
  const conv = (name: string, hw: number) => {
    const [o, i, kh, kw] = shapes.get(`${name}.weight`)!;
    flops += 2 * o * i * (kh ?? 1) * (kw ?? 1) * hw;
  };
  const resnet = (p: string, hw: number) => {
    conv(`${p}.conv1`, hw);
    conv(`${p}.conv2`, hw);
    if (shapes.has(`${p}.conv_shortcut.weight`)) conv(`${p}.conv_shortcut`, hw);
  };
  const transformer = (p: string, c: number, hw: number) => {
    conv(`${p}.proj_in`, hw);
    conv(`${p}.proj_out`, hw);
    for (let b = 0; b < cfg.transformerLayersPerBlock; b++) {
      const lin =
        2 * hw * (4 * c * c + 2 * c * c + 8 * c * c + 4 * c * c) +
        2 * contextTokens * 2 * c * cfg.crossAttentionDim;
      const attn = 4 * hw * hw * c + 4 * hw * contextTokens * c;
      flops += lin + attn;
    }
  };
  let hw = height * width;
  conv('conv_in', hw);
  const boc = cfg.blockOutChannels;
  boc.forEach((c, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, hw);
      if (cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D')
        transformer(`down_blocks.${i}.attentions.${j}`, c, hw);
    }
    if (i < boc.length - 1) {
      hw /= 4;
      conv(`down_blocks.${i}.downsamplers.0.conv`, hw);
    }
  });
  resnet('mid_block.resnets.0', hw);
  transformer('mid_block.attentions.0', boc[boc.length - 1], hw);
  resnet('mid_block.resnets.1', hw);
  [...boc].reverse().forEach((c, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      resnet(`up_blocks.${i}.resnets.${j}`, hw);
      if (cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D') transformer(`up_blocks.${i}.attentions.${j}`, c, hw);
    }
    if (i < boc.length - 1) {
      hw *= 4;
      conv(`up_blocks.${i}.upsamplers.0.conv`, hw);
    }
  });
  conv('conv_out', hw);
  return flops * batch;
}
