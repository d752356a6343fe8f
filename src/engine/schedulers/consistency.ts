// Consistency-model samplers on the DDPM grid: LCM and TCD.
// Ref: Luo et al. 2023, "Latent Consistency Models" (multistep sampling, Algorithm 1; boundary
// condition c_skip(t) = sigma_data^2 / ((t s)^2 + sigma_data^2), c_out(t) = t s / sqrt((t s)^2 + sigma_data^2),
// sigma_data = 0.5, s = timestep_scaling = 10) and Zheng et al. 2024, "Trajectory Consistency
// Distillation" (strategic stochastic sampling with gamma = eta: jump to s = floor((1 - gamma) t_prev),
// then re-noise to t_prev). diffusers LCMScheduler / TCDScheduler (0.27), whose timestep selection
// ignores timestep_spacing: from the `original_inference_steps` grid t_k = k (T / N_orig) - 1 (descending)
// take indices floor(linspace(0, N_orig, steps, endpoint=False)).

import type { SchedulerConfig } from './config.ts';
import { alphasCumprodFor } from './noise-schedule.ts';

const f = Math.fround;

export function consistencyTimesteps(config: SchedulerConfig, steps: number, strength = 1): Float64Array {
  const original = config.originalInferenceSteps;
  const k = Math.floor(config.numTrainTimesteps / original);
  const count = Math.floor(original * strength);
  if (steps > original)
    throw new Error(`LCM/TCD: ${steps} steps exceed original_inference_steps ${original}`);
  if (Math.floor(count / steps) < 1)
    throw new Error(`LCM/TCD: ${steps} steps need strength >= ${steps / original}`);
  // Descending origin grid: count*k - 1, ..., k - 1.
  const grid = Array.from({ length: count }, (_, i) => (count - i) * k - 1);
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) out[i] = grid[Math.floor((i * count) / steps)];
  return out;
}

/** sqrt(alphā_t), sqrt(1 - alphā_t) as float32 0-dim tensors give them. */
export function vpScalars(alphasCumprod: Float32Array, t: number): [sqrtAlpha: number, sqrtBeta: number] {
  const a = alphasCumprod[t];
  return [f(Math.sqrt(a)), f(Math.sqrt(f(1 - a)))];
}

/** LCM boundary-condition scalings for integer timestep t (float32). */
export function lcmBoundaryScalings(t: number, timestepScaling: number): [cSkip: number, cOut: number] {
  const scaled = f(t * f(timestepScaling));
  const denom = f(f(scaled * scaled) + 0.25);
  return [f(0.25 / denom), f(scaled / f(Math.sqrt(denom)))];
}

export function alphasFor(config: SchedulerConfig): Float32Array {
  return alphasCumprodFor(config);
}
