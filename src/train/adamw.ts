// AdamW on Float32Array parameters, in float32 exactly as torch.optim.AdamW's single-tensor path computes
// it (torch 1.13 `_single_tensor_adamw`): scalars are formed in double and each tensor op rounds to float32.
// Ref: Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2; per step s (1-based):
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1 − β1^s)) · m / (sqrt(v) / sqrt(1 − β2^s) + eps)

import { fmaF32 } from '../engine/rng/float32.ts';

const f = Math.fround;

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 };

/** Moments of one parameter tensor. */
export interface AdamWSlot {
  m: Float32Array;
  v: Float32Array;
}

export class AdamW {
  readonly slots = new Map<string, AdamWSlot>();
  /** completed optimiser steps */
  step = 0;

  constructor(readonly config: AdamWConfig = ADAMW_DEFAULTS) {}

  /** Updates every parameter in place with its gradient at learning rate `lr`. */
  update(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.config;
    const decay = f(1 - lr * weightDecay);
    const stepSize = f(lr / (1 - beta1 ** this.step));
    const bc2Sqrt = f(Math.sqrt(1 - beta2 ** this.step));
    const b1 = f(beta1);
    const b2 = f(beta2);
    const a1 = f(1 - beta1);
    const a2 = f(1 - beta2);
    const e = f(eps);
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g || g.length !== p.length) throw new Error(`AdamW: no gradient of the right size for ${name}`);
      let slot = this.slots.get(name);
      if (!slot) {
        slot = { m: new Float32Array(p.length), v: new Float32Array(p.length) };
        this.slots.set(name, slot);
      }
      const { m, v } = slot;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        p[i] = f(p[i] * decay);
        // add_(g, alpha) is a fused multiply-add in torch's vectorised CPU kernel; addcmul / addcdiv are not
        m[i] = fmaF32(gi, a1, f(m[i] * b1));
        v[i] = f(f(v[i] * b2) + f(f(a2 * gi) * gi));
        const denom = f(f(f(Math.sqrt(v[i])) / bc2Sqrt) + e);
        p[i] = f(p[i] + f(f(-stepSize * m[i]) / denom));
      }
    }
  }
}

/** Scales all gradients so their joint L2 norm is at most `maxNorm` (torch clip_grad_norm_); returns the norm. */
export function clipGradNorm(grads: Map<string, Float32Array>, maxNorm: number): number {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = f(g[i] * coef);
  return norm;
}
