// TCD sampler (Zheng et al. 2024, "Trajectory Consistency Distillation", strategic stochastic sampling):
// predict x0 at t, move deterministically to s = floor((1 - gamma) t_prev) along the PF-ODE
// (x_s = sqrt(alphā_s) x0 + sqrt(1 - alphā_s) eps), then forward-diffuse from s to t_prev with fresh noise:
// x = sqrt(alphā_prev / alphā_s) x_s + sqrt(1 - alphā_prev / alphā_s) z. gamma (diffusers `eta`) = 0.3 by default;
// gamma = 0 is deterministic. The last step returns x_s.

import type { SchedulerConfig } from './config.ts';
import { alphasFor, consistencyTimesteps, vpScalars } from './consistency.ts';
import { denoiseVp } from './denoisers.ts';
import { ddpmAddNoise } from './lcm.ts';
import { outputBuffer, resolveNoise, type Sampler, type StepNoise, unscaledInput } from './sampler.ts';

const f = Math.fround;

export function createTcd(config: SchedulerConfig, steps: number, opts: { gamma?: number } = {}): Sampler {
  const gamma = opts.gamma ?? 0.3;
  const timesteps = consistencyTimesteps(config, steps);
  const ac = alphasFor(config);
  let denoised: Float32Array | null = null;
  const stochastic = (i: number) => gamma > 0 && i !== steps - 1;
  return {
    name: 'tcd',
    timesteps,
    sigmas: new Float32Array(0),
    initNoiseSigma: 1,
    order: 1,
    get lastDenoised() {
      return denoised;
    },
    modelInputDivisor: () => 1,
    scaleModelInput: (x, _i, out) => unscaledInput(x, out),
    generatorDrawsAt: (i) => (stochastic(i) ? 1 : 0),
    step(modelOutput: Float32Array, i: number, x: Float32Array, noise?: StepNoise, out?: Float32Array) {
      const n = x.length;
      const t = timesteps[i];
      const tPrev = i + 1 < steps ? timesteps[i + 1] : 0;
      // torch: floor(float32(1 - eta) * t_prev) on a float32 tensor.
      const s = Math.floor(f(f(1 - gamma) * tPrev));
      const [sqrtA, sqrtB] = vpScalars(ac, t);
      const [sqrtAs, sqrtBs] = vpScalars(ac, s);
      const x0 = denoiseVp(modelOutput, x, sqrtA, sqrtB, config.predictionType, new Float32Array(n));
      // eps implied by the model (for v-prediction: sqrt(alphā) v + sqrt(1 - alphā) x).
      const epsAt = (k: number) =>
        config.predictionType === 'epsilon' ? modelOutput[k] : f(f(sqrtA * modelOutput[k]) + f(sqrtB * x[k]));
      const xs = new Float32Array(n);
      for (let k = 0; k < n; k++) xs[k] = f(f(sqrtAs * x0[k]) + f(sqrtBs * epsAt(k)));
      denoised = x0;
      const o = outputBuffer(out, n);
      if (!stochastic(i)) {
        o.set(xs);
        return o;
      }
      const ratio = f(ac[tPrev] / ac[s]);
      const keep = f(Math.sqrt(ratio));
      const add = f(Math.sqrt(f(1 - ratio)));
      const z = resolveNoise(noise, new Float32Array(n), 'tcd');
      for (let k = 0; k < n; k++) o[k] = f(f(keep * xs[k]) + f(add * z[k]));
      return o;
    },
    addNoise(x0, noise, i, out) {
      return ddpmAddNoise(ac, timesteps[i], x0, noise, out);
    },
  };
}
