// Euler sampler (Karras et al. 2022, Algorithm 2 with S_churn = 0; k-diffusion `sample_euler`;
// diffusers EulerDiscreteScheduler): x_{i+1} = x_i + (x_i - D(x_i)) / sigma_i * (sigma_{i+1} - sigma_i).
// diffusers draws (and multiplies by zero) one noise tensor per step for churn; generatorDrawsAt = 1
// keeps a torch-exact generator in step with the reference.

import type { SchedulerConfig, TimestepSpacing } from './config.ts';
import { denoiseSigmaSpace, sigmaInputDivisor } from './denoisers.ts';
import { outputBuffer, type Sampler, type SamplerName, type StepNoise } from './sampler.ts';
import { sigmaInitNoise, sigmaSchedule, withFinalZero } from './sigma-schedule.ts';

const f = Math.fround;

export interface SigmaSamplerOptions {
  spacing: TimestepSpacing;
  karras: boolean;
}

/** Shared part of the one-model-call-per-step sigma samplers. */
export function sigmaSamplerBase(config: SchedulerConfig, steps: number, opts: SigmaSamplerOptions) {
  const sched = sigmaSchedule(config, steps, opts.spacing, opts.karras, true);
  const sigmas = withFinalZero(sched.sigmas);
  return {
    // diffusers keeps Euler timesteps as float32.
    timesteps: Float64Array.from(sched.timesteps, f),
    sigmas,
    initNoiseSigma: sigmaInitNoise(sigmas, opts.spacing),
    order: 1,
    modelInputDivisor: (i: number) => sigmaInputDivisor(sigmas[i]),
    scaleModelInput(x: Float32Array, i: number, out?: Float32Array): Float32Array {
      const d = sigmaInputDivisor(sigmas[i]);
      const o = outputBuffer(out, x.length);
      for (let k = 0; k < x.length; k++) o[k] = x[k] / d;
      return o;
    },
    /** Variance-exploding noising: x0 + sigma_i * noise (diffusers Euler `add_noise`). */
    addNoise(x0: Float32Array, noise: Float32Array, i: number, out?: Float32Array): Float32Array {
      const o = outputBuffer(out, x0.length);
      const s = sigmas[i];
      for (let k = 0; k < x0.length; k++) o[k] = f(x0[k] + f(noise[k] * s));
      return o;
    },
  };
}

export function createEuler(
  config: SchedulerConfig,
  steps: number,
  opts: SigmaSamplerOptions,
  name: SamplerName = 'euler',
): Sampler {
  const base = sigmaSamplerBase(config, steps, opts);
  const { sigmas } = base;
  let denoised: Float32Array | null = null;
  return {
    ...base,
    name,
    get lastDenoised() {
      return denoised;
    },
    generatorDrawsAt: () => 1,
    step(modelOutput: Float32Array, i: number, x: Float32Array, noise?: StepNoise, out?: Float32Array) {
      const n = x.length;
      // The churn noise is drawn and discarded (gamma = 0) so a shared generator advances like diffusers'.
      if (noise !== undefined && !(noise instanceof Float32Array)) {
        if (noise.skipRandn) noise.skipRandn(n);
        else noise.randnInto(new Float32Array(n));
      }
      const sigma = sigmas[i];
      const dt = f(sigmas[i + 1] - sigma);
      denoised = denoiseSigmaSpace(modelOutput, x, sigma, config.predictionType, new Float32Array(n));
      const o = outputBuffer(out, n);
      for (let k = 0; k < n; k++) {
        const d = f(f(x[k] - denoised[k]) / sigma);
        o[k] = f(x[k] + f(d * dt));
      }
      return o;
    },
  };
}
