// Building blocks shared by the model graphs, each written to compute what the PyTorch module computes.
// Ref: https://pytorch.org/docs/stable/nn.html (Linear, Conv2d, GroupNorm, LayerNorm, SiLU, GELU)

import type { TensorSource } from '../checkpoint/tensor-source.ts';
import { type GraphBuilder, MS_DOMAIN } from './builder.ts';

export interface LayerOptions {
  /**
   * Use onnxruntime's fused com.microsoft.MultiHeadAttention kernel for unmasked attention instead of
   * MatMul/Softmax/MatMul (it never materialises the [B, H, S, S] score tensor on long sequences).
   */
  fusedAttention?: boolean;
}

export class Layers {
  constructor(
    readonly g: GraphBuilder,
    readonly src: TensorSource,
    readonly options: LayerOptions = {},
  ) {}

  /** a checkpoint tensor as an initializer (diffusers name), optionally viewed with other dims */
  param(name: string, dims?: number[]): string {
    const src = this.src;
    return this.g.weight(name, dims ?? src.shape(name), () => src.read(name));
  }

  shape(name: string): number[] {
    return this.src.shape(name);
  }

  /** torch.nn.Linear: x @ W^T + b on the last axis; W stays [out, in] so it is addressable by name. */
  linear(x: string, prefix: string): string {
    const w = this.g.op('Transpose', [this.param(`${prefix}.weight`)], { perm: [1, 0] });
    const y = this.g.op('MatMul', [x, w]);
    return this.src.has(`${prefix}.bias`) ? this.g.op('Add', [y, this.param(`${prefix}.bias`)]) : y;
  }

  /** torch.nn.Conv2d with symmetric padding `pad`. */
  conv2d(x: string, prefix: string, opts: { stride?: number; pad?: number } = {}): string {
    const [, , kh, kw] = this.shape(`${prefix}.weight`);
    const pad = opts.pad ?? Math.floor(kh / 2);
    const stride = opts.stride ?? 1;
    const inputs = [x, this.param(`${prefix}.weight`)];
    if (this.src.has(`${prefix}.bias`)) inputs.push(this.param(`${prefix}.bias`));
    return this.g.op('Conv', inputs, {
      kernel_shape: [kh, kw],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
  }

  /**
   * torch.nn.GroupNorm on NCHW: normalise over (C/G, H, W) per group, then per-channel affine.
   * Expressed as InstanceNormalization on a [N, G, -1] view (unit scale, zero bias).
   */
  groupNorm(x: string, prefix: string, groups: number, eps: number): string {
    const g = this.g;
    const c = this.shape(`${prefix}.weight`)[0];
    const grouped = g.op('Reshape', [x, g.constInt64([0, groups, -1])]);
    const normed = g.op(
      'InstanceNormalization',
      [
        grouped,
        g.constFloat(new Float32Array(groups).fill(1), [groups]),
        g.constFloat(new Float32Array(groups), [groups]),
      ],
      {
        epsilon: { f: eps },
      },
    );
    const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
    const scaled = g.op('Mul', [back, this.param(`${prefix}.weight`, [c, 1, 1])]);
    return g.op('Add', [scaled, this.param(`${prefix}.bias`, [c, 1, 1])]);
  }

  /** torch.nn.LayerNorm over the last axis. */
  layerNorm(x: string, prefix: string, eps: number): string {
    return this.g.op(
      'LayerNormalization',
      [x, this.param(`${prefix}.weight`), this.param(`${prefix}.bias`)],
      {
        axis: -1,
        epsilon: { f: eps },
      },
    );
  }

  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)) (torch.nn.functional.gelu, approximate='none') */
  gelu(x: string): string {
    const g = this.g;
    const erf = g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])]);
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
  }

  /** transformers' quick_gelu: x * sigmoid(1.702 x) */
  quickGelu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [this.g.op('Mul', [x, this.g.scalar(1.702)])])]);
  }

  /** [B, S, H*D] -> [B, H, S, D] */
  splitHeads(x: string, heads: number, headDim: number): string {
    const r = this.g.op('Reshape', [x, this.g.constInt64([0, 0, heads, headDim])]);
    return this.g.op('Transpose', [r], { perm: [0, 2, 1, 3] });
  }

  /** [B, H, S, D] -> [B, S, H*D] */
  mergeHeads(x: string, heads: number, headDim: number): string {
    const t = this.g.op('Transpose', [x], { perm: [0, 2, 1, 3] });
    return this.g.op('Reshape', [t, this.g.constInt64([0, 0, heads * headDim])]);
  }

  /**
   * Multi-head scaled dot-product attention on [B, S, C] projections:
   * softmax(scale * q k^T [+ mask]) v, scale applied to the scores (diffusers' baddbmm alpha) unless
   * `scaleQuery` (transformers' CLIP scales q before the product).
   */
  attention(
    q: string,
    k: string,
    v: string,
    heads: number,
    headDim: number,
    opts: { scaleQuery?: boolean; mask?: string } = {},
  ): string {
    const g = this.g;
    if (this.options.fusedAttention && !opts.mask && !opts.scaleQuery) {
      return g.op(
        'MultiHeadAttention',
        [q, k, v],
        { num_heads: heads, scale: { f: headDim ** -0.5 } },
        undefined,
        MS_DOMAIN,
      );
    }
    const scale = g.scalar(headDim ** -0.5);
    let qh = this.splitHeads(q, heads, headDim);
    if (opts.scaleQuery) qh = g.op('Mul', [qh, scale]);
    const kt = g.op('Transpose', [g.op('Reshape', [k, g.constInt64([0, 0, heads, headDim])])], {
      perm: [0, 2, 3, 1],
    });
    let scores = g.op('MatMul', [qh, kt]);
    if (!opts.scaleQuery) scores = g.op('Mul', [scores, scale]);
    if (opts.mask) scores = g.op('Add', [scores, opts.mask]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const out = g.op('MatMul', [probs, this.splitHeads(v, heads, headDim)]);
    return this.mergeHeads(out, heads, headDim);
  }

  /** NCHW -> [B, H*W, C] */
  toTokens(x: string, channels: number): string {
    const flat = this.g.op('Reshape', [x, this.g.constInt64([0, channels, -1])]);
    return this.g.op('Transpose', [flat], { perm: [0, 2, 1] });
  }

  /** [B, H*W, C] -> NCHW with the spatial shape of `like` */
  fromTokens(tokens: string, like: string): string {
    const t = this.g.op('Transpose', [tokens], { perm: [0, 2, 1] });
    return this.g.op('Reshape', [t, this.g.op('Shape', [like])]);
  }

  /** nearest-neighbour x2 upsampling (torch F.interpolate(scale_factor=2, mode='nearest')) */
  upsample2x(x: string): string {
    return this.g.op('Resize', [x, '', this.g.constFloat([1, 1, 2, 2], [4])], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }
}
