// Training noise schedule and the inference schedules derived from it (pure functions).
// Ref: Ho et al. 2020 (DDPM) for betas / alphas_cumprod; Rombach et al. 2022 (LDM, SD) "scaled_linear"
// betas = linspace(sqrt(beta_start), sqrt(beta_end), T)^2; Karras et al. 2022 ("Elucidating the Design
// Space of Diffusion-Based Generative Models", EDM) sigma = sqrt((1 - alphā)/alphā) and the rho = 7
// schedule (eq. 5); Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are Flawed",
// table 2) for "linspace" / "leading" / "trailing" timestep spacing.
// Arithmetic follows diffusers 0.27 + PyTorch 1.13 CPU + numpy so the schedules match the reference
// files bit for bit: torch float32 where diffusers uses tensors, float64 where it uses numpy.

import { fmaF32 } from '../rng/float32.ts';
import type { SchedulerConfig, TimestepSpacing } from './config.ts';

const f = Math.fround;

/**
 * torch.linspace(start, end, steps, dtype=float32) on x86-64 (AVX2 build): lanes of 8 from
 * `Vectorized::arange(base, step)`, base = start + step*idx (first half) or end - step*(steps-1-idx)
 * (second half), each a fused multiply-add (GCC contracts them; checked against alphas_cumprod).
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = f(start);
    return out;
  }
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const lanes = 8;
  for (let base = 0; base < steps; base += lanes) {
    const b = base < half ? fmaF32(step, base, s) : fmaF32(-step, steps - base - 1, e);
    for (let k = 0; k < lanes && base + k < steps; k++) out[base + k] = fmaF32(k, step, b);
  }
  return out;
}

/** DDPM betas (float32). */
export function betasFor(config: SchedulerConfig): Float32Array {
  const T = config.numTrainTimesteps;
  if (config.betaSchedule === 'linear') return torchLinspaceF32(config.betaStart, config.betaEnd, T);
  const roots = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), T);
  return roots.map((r) => f(r * r));
}

/** alphā_t = prod_{s<=t} (1 - beta_s); torch's CPU cumprod accumulates in double. */
export function alphasCumprodFor(config: SchedulerConfig): Float32Array {
  const betas = betasFor(config);
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** Karras/EDM sigma of every training timestep: sqrt((1 - alphā) / alphā), float32. */
export function trainingSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f(Math.sqrt(f(f(1 - a) / a))));
}

/** numpy.linspace(start, stop, num) in float64 (endpoint included, last value exactly `stop`). */
export function npLinspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** Python/numpy round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Discrete-sigma samplers (Euler, Euler a, DPM++ SDE): `n` timesteps, descending, float64.
 * leading: (0..n-1) * (T // n) reversed + steps_offset; trailing: round(arange(T, 0, -T/n)) - 1;
 * linspace: linspace(0, T-1, n) reversed (fractional).
 */
export function discreteTimesteps(
  spacing: TimestepSpacing,
  n: number,
  config: SchedulerConfig,
): Float64Array {
  const T = config.numTrainTimesteps;
  const out = new Float64Array(n);
  if (spacing === 'linspace') {
    const lin = npLinspace(0, T - 1, n);
    for (let i = 0; i < n; i++) out[i] = lin[n - 1 - i];
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    for (let i = 0; i < n; i++) out[i] = (n - 1 - i) * ratio + config.stepsOffset;
  } else {
    const ratio = T / n;
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(T - i * ratio) - 1;
  }
  return out;
}

/**
 * DPMSolverMultistep's integer timesteps: it lays out n + 1 points and drops the last one.
 * leading: (0..n) * (T // (n+1)) reversed minus the last, + steps_offset; linspace: round(linspace(0, T-1, n+1))
 * reversed minus the last; trailing as discreteTimesteps.
 */
export function multistepTimesteps(
  spacing: TimestepSpacing,
  n: number,
  config: SchedulerConfig,
): Float64Array {
  const T = config.numTrainTimesteps;
  const out = new Float64Array(n);
  if (spacing === 'linspace') {
    const lin = npLinspace(0, T - 1, n + 1);
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(lin[n - i]);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / (n + 1));
    for (let i = 0; i < n; i++) out[i] = (n - i) * ratio + config.stepsOffset;
  } else {
    const ratio = T / n;
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(T - i * ratio) - 1;
  }
  return out;
}

/** numpy.interp(x, arange(len(fp)), fp) in float64 (fp on the integer grid 0..len-1). */
export function interpOnIntegerGrid(x: number, fp: ArrayLike<number>): number {
  if (x <= 0) return fp[0];
  const last = fp.length - 1;
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

/** Karras et al. 2022 eq. (5): sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho, float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const ramp = npLinspace(0, 1, n);
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/**
 * np.log of the float32 training sigmas (float32 result). Only used to interpolate fractional
 * timesteps (Karras / DPM++ SDE midpoints), which agree with diffusers to ~5e-5 of a timestep.
 */
export function logSigmas(sigmas: Float32Array): Float32Array {
  return sigmas.map((s) => f(Math.log(s)));
}

/**
 * Fractional training timestep of a sigma: linear interpolation in log-sigma between the two
 * neighbouring training sigmas (k-diffusion `DiscreteSchedule.sigma_to_t`; diffusers `_sigma_to_t`).
 */
export function sigmaToT(sigma: number, logSig: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low = last index whose log-sigma is <= log(sigma) (argmax of the cumulative count), clipped to len-2.
  let count = 0;
  let low = 0;
  let best = -1;
  for (let i = 0; i < logSig.length; i++) {
    if (logSigma - logSig[i] >= 0) count++;
    if (count > best) {
      best = count;
      low = i;
    }
  }
  low = Math.min(low, logSig.length - 2);
  const lo = logSig[low];
  const hi = logSig[low + 1];
  let w = (lo - logSigma) / (lo - hi);
  w = Math.min(1, Math.max(0, w));
  return (1 - w) * low + w * (low + 1);
}
