// AutoencoderKL (SD 1.x VAE): encoder to the diagonal-Gaussian moments (mean, logvar), decoder from latents.
// The latent scaling factor (0.18215) is NOT applied here: the caller divides/multiplies by it.
// Ref: https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/autoencoders/vae.py
//      https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/autoencoders/autoencoder_kl.py

import type { TensorSource } from '../checkpoint/tensor-source.ts';
import { GraphBuilder } from '../graph/builder.ts';
import { Layers } from '../graph/nn.ts';
import type { TensorIndex } from './clip.ts';

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  scalingFactor: number;
  useQuantConv: boolean;
}

export interface VaeBuildOptions {
  /** fused MultiHeadAttention kernel for the mid-block attention (default true) */
  fusedAttention?: boolean;
}

// every GroupNorm of the diffusers VAE (resnets, mid attention, conv_norm_out) uses eps 1e-6
const EPS = 1e-6;

export function vaeConfigFromJson(j: Record<string, unknown>): VaeConfig {
  for (const t of (j.down_block_types as string[]) ?? []) {
    if (t !== 'DownEncoderBlock2D') throw new Error(`VAE down block ${t} is not supported`);
  }
  for (const t of (j.up_block_types as string[]) ?? []) {
    if (t !== 'UpDecoderBlock2D') throw new Error(`VAE up block ${t} is not supported`);
  }
  return {
    inChannels: Number(j.in_channels ?? 3),
    outChannels: Number(j.out_channels ?? 3),
    latentChannels: Number(j.latent_channels ?? 4),
    blockOutChannels: (j.block_out_channels as number[]).map(Number),
    layersPerBlock: Number(j.layers_per_block ?? 2),
    normNumGroups: Number(j.norm_num_groups ?? 32),
    scalingFactor: Number(j.scaling_factor ?? 0.18215),
    useQuantConv: j.use_quant_conv === undefined ? true : Boolean(j.use_quant_conv),
  };
}

/** Infers the config from tensor shapes; norm groups (32) and the scaling factor (SD 1.x: 0.18215) are not visible. */
export function detectVaeConfig(index: TensorIndex, prefix = ''): VaeConfig {
  const has = (n: string) => index.has(prefix + n);
  const shape = (n: string) => index.shape(prefix + n);
  const blockOutChannels: number[] = [];
  while (has(`encoder.down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`)) {
    blockOutChannels.push(shape(`encoder.down_blocks.${blockOutChannels.length}.resnets.0.conv1.weight`)[0]);
  }
  if (!blockOutChannels.length)
    throw new Error('no VAE encoder blocks found (encoder.down_blocks.0.resnets.0.conv1.weight)');
  let layersPerBlock = 0;
  while (has(`encoder.down_blocks.0.resnets.${layersPerBlock}.conv1.weight`)) layersPerBlock++;
  return {
    inChannels: shape('encoder.conv_in.weight')[1],
    outChannels: shape('decoder.conv_out.weight')[0],
    latentChannels: shape('decoder.conv_in.weight')[1],
    blockOutChannels,
    layersPerBlock,
    normNumGroups: 32,
    scalingFactor: 0.18215,
    useQuantConv: has('quant_conv.weight'),
  };
}

class VaeGraph {
  readonly nn: Layers;
  constructor(
    readonly g: GraphBuilder,
    src: TensorSource,
    readonly cfg: VaeConfig,
    opts: VaeBuildOptions,
  ) {
    this.nn = new Layers(g, src, { fusedAttention: opts.fusedAttention ?? true });
  }

  resnet(x: string, p: string): string {
    const { nn, cfg } = this;
    let h = nn.conv2d(nn.silu(nn.groupNorm(x, `${p}.norm1`, cfg.normNumGroups, EPS)), `${p}.conv1`);
    h = nn.conv2d(nn.silu(nn.groupNorm(h, `${p}.norm2`, cfg.normNumGroups, EPS)), `${p}.conv2`);
    const skip = nn.src.has(`${p}.conv_shortcut.weight`) ? nn.conv2d(x, `${p}.conv_shortcut`, { pad: 0 }) : x;
    return this.g.op('Add', [skip, h]);
  }

  /** single-head self-attention over all pixels, with a residual connection */
  attention(x: string, p: string): string {
    const { g, nn, cfg } = this;
    const c = nn.shape(`${p}.to_q.weight`)[0];
    const tokens = nn.toTokens(nn.groupNorm(x, `${p}.group_norm`, cfg.normNumGroups, EPS), c);
    const q = nn.linear(tokens, `${p}.to_q`);
    const k = nn.linear(tokens, `${p}.to_k`);
    const v = nn.linear(tokens, `${p}.to_v`);
    const out = nn.linear(nn.attention(q, k, v, 1, c), `${p}.to_out.0`);
    return g.op('Add', [nn.fromTokens(out, x), x]);
  }

  midBlock(h: string, p: string): string {
    h = this.resnet(h, `${p}.resnets.0`);
    h = this.attention(h, `${p}.attentions.0`);
    return this.resnet(h, `${p}.resnets.1`);
  }

  encoder(x: string): { mean: string; logvar: string } {
    const { g, nn, cfg } = this;
    let h = nn.conv2d(x, 'encoder.conv_in');
    cfg.blockOutChannels.forEach((_, i) => {
      for (let j = 0; j < cfg.layersPerBlock; j++)
        h = this.resnet(h, `encoder.down_blocks.${i}.resnets.${j}`);
      if (nn.src.has(`encoder.down_blocks.${i}.downsamplers.0.conv.weight`)) {
        // diffusers' VAE Downsample2D pads right/bottom by one, then a stride-2 conv without padding
        const padded = g.op('Pad', [h, g.constInt64([0, 0, 0, 0, 0, 0, 1, 1])], { mode: 'constant' });
        h = nn.conv2d(padded, `encoder.down_blocks.${i}.downsamplers.0.conv`, { stride: 2, pad: 0 });
      }
    });
    h = this.midBlock(h, 'encoder.mid_block');
    h = nn.conv2d(
      nn.silu(nn.groupNorm(h, 'encoder.conv_norm_out', cfg.normNumGroups, EPS)),
      'encoder.conv_out',
    );
    if (cfg.useQuantConv) h = nn.conv2d(h, 'quant_conv', { pad: 0 });
    const lc = cfg.latentChannels;
    const [mean, rawLogvar] = g.opMulti('Split', [h, g.constInt64([lc, lc])], 2, { axis: 1 });
    // DiagonalGaussianDistribution clamps logvar to [-30, 20]
    const logvar = g.op('Clip', [rawLogvar, g.scalar(-30), g.scalar(20)]);
    return { mean, logvar };
  }

  decoder(z: string): string {
    const { nn, cfg } = this;
    let h = cfg.useQuantConv ? nn.conv2d(z, 'post_quant_conv', { pad: 0 }) : z;
    h = nn.conv2d(h, 'decoder.conv_in');
    h = this.midBlock(h, 'decoder.mid_block');
    cfg.blockOutChannels.forEach((_, i) => {
      for (let j = 0; j <= cfg.layersPerBlock; j++) h = this.resnet(h, `decoder.up_blocks.${i}.resnets.${j}`);
      if (nn.src.has(`decoder.up_blocks.${i}.upsamplers.0.conv.weight`)) {
        h = nn.conv2d(nn.upsample2x(h), `decoder.up_blocks.${i}.upsamplers.0.conv`);
      }
    });
    return nn.conv2d(
      nn.silu(nn.groupNorm(h, 'decoder.conv_norm_out', cfg.normNumGroups, EPS)),
      'decoder.conv_out',
    );
  }
}

/** Input `image` [B, 3, H, W] in [-1, 1]; outputs `mean`, `logvar` (clamped) and `std` = exp(logvar / 2), [B, 4, H/8, W/8]. */
export function buildVaeEncoderGraph(
  src: TensorSource,
  cfg: VaeConfig,
  opts: VaeBuildOptions = {},
): GraphBuilder {
  const g = new GraphBuilder('vae_encoder');
  const vae = new VaeGraph(g, src, cfg, opts);
  const x = g.input('image', ['batch', cfg.inChannels, 'height', 'width']);
  const { mean, logvar } = vae.encoder(x);
  const dims = ['batch', cfg.latentChannels, 'lh', 'lw'];
  g.output('mean', mean, dims);
  g.output('logvar', logvar, dims);
  g.output('std', g.op('Exp', [g.op('Mul', [logvar, g.scalar(0.5)])]), dims);
  return g;
}

/** Input `latent` [B, 4, h, w] (already divided by the scaling factor); output `image` [B, 3, 8h, 8w], unclamped. */
export function buildVaeDecoderGraph(
  src: TensorSource,
  cfg: VaeConfig,
  opts: VaeBuildOptions = {},
): GraphBuilder {
  const g = new GraphBuilder('vae_decoder');
  const vae = new VaeGraph(g, src, cfg, opts);
  const z = g.input('latent', ['batch', cfg.latentChannels, 'height', 'width']);
  g.output('image', vae.decoder(z), ['batch', cfg.outChannels, 'image_height', 'image_width']);
  return g;
}

type Shapes = Map<string, number[]>;

function addResnetShapes(s: Shapes, p: string, cin: number, cout: number): void {
  s.set(`${p}.norm1.weight`, [cin]).set(`${p}.norm1.bias`, [cin]);
  s.set(`${p}.conv1.weight`, [cout, cin, 3, 3]).set(`${p}.conv1.bias`, [cout]);
  s.set(`${p}.norm2.weight`, [cout]).set(`${p}.norm2.bias`, [cout]);
  s.set(`${p}.conv2.weight`, [cout, cout, 3, 3]).set(`${p}.conv2.bias`, [cout]);
  if (cin !== cout)
    s.set(`${p}.conv_shortcut.weight`, [cout, cin, 1, 1]).set(`${p}.conv_shortcut.bias`, [cout]);
}

function addMidShapes(s: Shapes, p: string, c: number): void {
  addResnetShapes(s, `${p}.resnets.0`, c, c);
  const a = `${p}.attentions.0`;
  s.set(`${a}.group_norm.weight`, [c]).set(`${a}.group_norm.bias`, [c]);
  for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0'])
    s.set(`${a}.${n}.weight`, [c, c]).set(`${a}.${n}.bias`, [c]);
  addResnetShapes(s, `${p}.resnets.1`, c, c);
}

/** Every tensor (diffusers name -> shape) an AutoencoderKL of this config has. */
export function vaeTensorShapes(cfg: VaeConfig): Map<string, number[]> {
  const s: Shapes = new Map();
  const boc = cfg.blockOutChannels;
  const last = boc[boc.length - 1];
  const lc = cfg.latentChannels;
  s.set('encoder.conv_in.weight', [boc[0], cfg.inChannels, 3, 3]).set('encoder.conv_in.bias', [boc[0]]);
  let prev = boc[0];
  boc.forEach((out, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++)
      addResnetShapes(s, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < boc.length - 1) {
      s.set(`encoder.down_blocks.${i}.downsamplers.0.conv.weight`, [out, out, 3, 3]);
      s.set(`encoder.down_blocks.${i}.downsamplers.0.conv.bias`, [out]);
    }
    prev = out;
  });
  addMidShapes(s, 'encoder.mid_block', last);
  s.set('encoder.conv_norm_out.weight', [last]).set('encoder.conv_norm_out.bias', [last]);
  s.set('encoder.conv_out.weight', [2 * lc, last, 3, 3]).set('encoder.conv_out.bias', [2 * lc]);
  if (cfg.useQuantConv) {
    s.set('quant_conv.weight', [2 * lc, 2 * lc, 1, 1]).set('quant_conv.bias', [2 * lc]);
    s.set('post_quant_conv.weight', [lc, lc, 1, 1]).set('post_quant_conv.bias', [lc]);
  }
  s.set('decoder.conv_in.weight', [last, lc, 3, 3]).set('decoder.conv_in.bias', [last]);
  addMidShapes(s, 'decoder.mid_block', last);
  const rev = [...boc].reverse();
  prev = rev[0];
  rev.forEach((out, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++)
      addResnetShapes(s, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < rev.length - 1) {
      s.set(`decoder.up_blocks.${i}.upsamplers.0.conv.weight`, [out, out, 3, 3]);
      s.set(`decoder.up_blocks.${i}.upsamplers.0.conv.bias`, [out]);
    }
    prev = out;
  });
  s.set('decoder.conv_norm_out.weight', [boc[0]]).set('decoder.conv_norm_out.bias', [boc[0]]);
  s.set('decoder.conv_out.weight', [cfg.outChannels, boc[0], 3, 3]).set('decoder.conv_out.bias', [
    cfg.outChannels,
  ]);
  return s;
}

export const SD15_VAE: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  normNumGroups: 32,
  scalingFactor: 0.18215,
  useQuantConv: true,
};

/** Multiply-add FLOPs of one decoder pass for a latent of height x width (convs + mid attention). */
export function vaeDecoderFlops(cfg: VaeConfig, batch: number, height: number, width: number): number {
  const shapes = vaeTensorShapes(cfg);
  let flops = 0;
  const hw = height * width;
  for (const [name, shape] of shapes) {
    if (!name.startsWith('decoder.') || !name.endsWith('.weight') || shape.length !== 4) continue;
    const m = /up_blocks\.(\d+)\.(resnets|upsamplers)/.exec(name);
    // resolution of this conv: latent size, x2 per upsampler passed (an upsampler conv runs after its x2)
    const level = m
      ? Number(m[1]) + (m[2] === 'upsamplers' ? 1 : 0)
      : name.includes('conv_norm_out') || name.includes('conv_out')
        ? cfg.blockOutChannels.length - 1
        : 0;
    const size = hw * 4 ** level;
    flops += 2 * shape[0] * shape[1] * shape[2] * shape[3] * size;
  }
  const c = cfg.blockOutChannels[cfg.blockOutChannels.length - 1];
  flops += 2 * hw * 4 * c * c + 4 * hw * hw * c; // mid attention projections and products
  return flops * batch;
}
