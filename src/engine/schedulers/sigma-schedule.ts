// Sigma schedules of the k-diffusion style samplers (Euler, Euler a, DPM++ SDE), as diffusers builds them.
// Ref: diffusers 0.27 EulerDiscreteScheduler.set_timesteps; Karras et al. 2022 eq. (5) for karras.

import type { SchedulerConfig, TimestepSpacing } from './config.ts';
import {
  alphasCumprodFor,
  discreteTimesteps,
  interpOnIntegerGrid,
  karrasSigmas,
  logSigmas,
  sigmaToT,
  trainingSigmas,
} from './noise-schedule.ts';

const f = Math.fround;

export interface SigmaSchedule {
  /** Timesteps in float64 as computed (fractional for linspace / karras). */
  timesteps: Float64Array;
  /** One sigma per timestep, float64 (before diffusers casts them to float32). */
  sigmas: Float64Array;
  /** The float32 training sigmas and their logs, for sigma -> t conversions. */
  trainSigmas: Float32Array;
  trainLogSigmas: Float32Array;
  alphasCumprod: Float32Array;
}

/**
 * `float32Timesteps`: Euler / Euler a build their linspace timesteps with numpy dtype float32 before
 * interpolating the sigmas; DPMSolverSDE keeps float64.
 */
export function sigmaSchedule(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing,
  karras: boolean,
  float32Timesteps = false,
): SigmaSchedule {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`steps must be a positive integer, got ${steps}`);
  const alphasCumprod = alphasCumprodFor(config);
  const trainSigmas = trainingSigmas(alphasCumprod);
  const trainLogSigmas = logSigmas(trainSigmas);
  let timesteps: Float64Array = discreteTimesteps(spacing, steps, config);
  if (float32Timesteps) timesteps = timesteps.map(f);
  let sigmas: Float64Array = timesteps.map((t) => interpOnIntegerGrid(t, trainSigmas));
  if (karras) {
    sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);
    timesteps = sigmas.map((s) => sigmaToT(s, trainLogSigmas));
  }
  return { timesteps, sigmas, trainSigmas, trainLogSigmas, alphasCumprod };
}

/** sigmas as float32 with the final 0 appended (diffusers `scheduler.sigmas`). */
export function withFinalZero(sigmas: Float64Array): Float32Array {
  const out = new Float32Array(sigmas.length + 1);
  out.set(sigmas);
  return out;
}

/**
 * diffusers `init_noise_sigma` for sigma-space samplers: sigma_max for "linspace"/"trailing",
 * sqrt(sigma_max^2 + 1) for "leading" (float32).
 */
export function sigmaInitNoise(sigmasF32: Float32Array, spacing: TimestepSpacing): number {
  let max = 0;
  for (const s of sigmasF32) if (s > max) max = s;
  return spacing === 'leading' ? f(Math.sqrt(f(f(max * max) + 1))) : max;
}
