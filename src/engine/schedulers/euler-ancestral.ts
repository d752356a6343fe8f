// Euler ancestral sampler (k-diffusion `sample_euler_ancestral`, diffusers EulerAncestralDiscreteScheduler):
// an Euler step down to sigma_down, then fresh noise of std sigma_up, with
// sigma_up = sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2), sigma_down = sqrt(sigma_next^2 - sigma_up^2)
// (k-diffusion `get_ancestral_step`, eta = 1; the DDPM ancestral posterior of Ho et al. 2020 in sigma form).

import type { SchedulerConfig } from './config.ts';
import { denoiseSigmaSpace } from './denoisers.ts';
import { type SigmaSamplerOptions, sigmaSamplerBase } from './euler.ts';
import { outputBuffer, resolveNoise, type Sampler, type StepNoise } from './sampler.ts';

const f = Math.fround;

/** [sigma_down, sigma_up] in float32, diffusers' operation order. */
export function ancestralStep(sigmaFrom: number, sigmaTo: number): [down: number, up: number] {
  const to2 = f(sigmaTo * sigmaTo);
  const from2 = f(sigmaFrom * sigmaFrom);
  const up = f(Math.sqrt(f(f(to2 * f(from2 - to2)) / from2)));
  const down = f(Math.sqrt(f(to2 - f(up * up))));
  return [down, up];
}

export function createEulerAncestral(
  config: SchedulerConfig,
  steps: number,
  opts: SigmaSamplerOptions,
): Sampler {
  const base = sigmaSamplerBase(config, steps, opts);
  const { sigmas } = base;
  let denoised: Float32Array | null = null;
  return {
    ...base,
    name: 'euler_a',
    get lastDenoised() {
      return denoised;
    },
    generatorDrawsAt: () => 1,
    step(modelOutput: Float32Array, i: number, x: Float32Array, noise?: StepNoise, out?: Float32Array) {
      const n = x.length;
      const sigma = sigmas[i];
      const [down, up] = ancestralStep(sigma, sigmas[i + 1]);
      const dt = f(down - sigma);
      denoised = denoiseSigmaSpace(modelOutput, x, sigma, config.predictionType, new Float32Array(n));
      const z = resolveNoise(noise, new Float32Array(n), 'euler_a');
      const o = outputBuffer(out, n);
      for (let k = 0; k < n; k++) {
        const d = f(f(x[k] - denoised[k]) / sigma);
        o[k] = f(f(x[k] + f(d * dt)) + f(z[k] * up));
      }
      return o;
    },
  };
}
