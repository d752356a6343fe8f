// Model-output -> x0 conversions ("denoiser scalings") in the two parameterisations the samplers use.
// Ref: Karras et al. 2022 (EDM) table 1 / k-diffusion `external.py` (CompVisDenoiser, CompVisVDenoiser):
// with x = x0 + sigma * n (variance-exploding form), an eps-model gives D(x) = x - sigma * eps, and a
// v-model (Salimans & Ho 2022, "Progressive Distillation", v = alpha * eps - sigma_vp * x0) gives
// D(x) = x * c_skip + v * c_out with c_skip = 1 / (sigma^2 + 1), c_out = -sigma / sqrt(sigma^2 + 1).
// In the variance-preserving form x = alpha_t x0 + sigma_t eps (DPM-Solver, LCM, TCD):
// eps-model x0 = (x - sigma_t eps) / alpha_t, v-model x0 = alpha_t x - sigma_t v.
// Every operation is rounded to float32 in diffusers' order.

import type { PredictionType } from './config.ts';

const f = Math.fround;

/** x0 = D(x; sigma) for sigma-space samplers (Euler, Euler a, DPM++ SDE); sigma > 0. */
export function denoiseSigmaSpace(
  modelOutput: Float32Array,
  x: Float32Array,
  sigma: number,
  prediction: PredictionType,
  out: Float32Array,
): Float32Array {
  if (prediction === 'epsilon') {
    for (let k = 0; k < x.length; k++) out[k] = f(x[k] - f(sigma * modelOutput[k]));
  } else {
    const s2p1 = f(f(sigma * sigma) + 1);
    const cOut = f(-sigma / f(Math.sqrt(s2p1)));
    for (let k = 0; k < x.length; k++) out[k] = f(f(modelOutput[k] * cOut) + f(x[k] / s2p1));
  }
  return out;
}

/** Karras input scaling c_in = 1 / sqrt(sigma^2 + 1), returned as the divisor sqrt(sigma^2 + 1) (float32). */
export function sigmaInputDivisor(sigma: number): number {
  return f(Math.sqrt(f(f(sigma * sigma) + 1)));
}

/** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t (diffusers `_sigma_to_alpha_sigma_t`), float32. */
export function alphaSigmaFromSigma(sigma: number): [alpha: number, sigmaT: number] {
  const alpha = f(1 / sigmaInputDivisor(sigma));
  return [alpha, f(sigma * alpha)];
}

/** x0 for variance-preserving samplers from alpha_t, sigma_t (= sqrt(alphā), sqrt(1 - alphā)). */
export function denoiseVp(
  modelOutput: Float32Array,
  x: Float32Array,
  alphaT: number,
  sigmaT: number,
  prediction: PredictionType,
  out: Float32Array,
): Float32Array {
  if (prediction === 'epsilon') {
    for (let k = 0; k < x.length; k++) out[k] = f(f(x[k] - f(sigmaT * modelOutput[k])) / alphaT);
  } else {
    for (let k = 0; k < x.length; k++) out[k] = f(f(alphaT * x[k]) - f(sigmaT * modelOutput[k]));
  }
  return out;
}
