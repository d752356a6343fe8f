// LCM multistep sampler (Luo et al. 2023, Algorithm 1): at each t, the consistency function
// f(x, t) = c_skip(t) x + c_out(t) x0_pred(x, t) gives the denoised sample; unless it is the last step,
// re-noise it to the next timestep: x = sqrt(alphā_next) denoised + sqrt(1 - alphā_next) z.

import type { SchedulerConfig } from './config.ts';
import { alphasFor, consistencyTimesteps, lcmBoundaryScalings, vpScalars } from './consistency.ts';
import { denoiseVp } from './denoisers.ts';
import { outputBuffer, resolveNoise, type Sampler, type StepNoise, unscaledInput } from './sampler.ts';

const f = Math.fround;

export function createLcm(config: SchedulerConfig, steps: number): Sampler {
  const timesteps = consistencyTimesteps(config, steps);
  const ac = alphasFor(config);
  let denoised: Float32Array | null = null;
  return {
    name: 'lcm',
    timesteps,
    sigmas: new Float32Array(0),
    initNoiseSigma: 1,
    order: 1,
    get lastDenoised() {
      return denoised;
    },
    modelInputDivisor: () => 1,
    scaleModelInput: (x, _i, out) => unscaledInput(x, out),
    generatorDrawsAt: (i) => (i === steps - 1 ? 0 : 1),
    step(modelOutput: Float32Array, i: number, x: Float32Array, noise?: StepNoise, out?: Float32Array) {
      const n = x.length;
      const t = timesteps[i];
      const [sqrtA, sqrtB] = vpScalars(ac, t);
      const [cSkip, cOut] = lcmBoundaryScalings(t, config.timestepScaling);
      const x0 = denoiseVp(modelOutput, x, sqrtA, sqrtB, config.predictionType, new Float32Array(n));
      const d = new Float32Array(n);
      for (let k = 0; k < n; k++) d[k] = f(f(cOut * x0[k]) + f(cSkip * x[k]));
      denoised = d;
      const o = outputBuffer(out, n);
      if (i === steps - 1) {
        o.set(d);
        return o;
      }
      const [sqrtAPrev, sqrtBPrev] = vpScalars(ac, timesteps[i + 1]);
      const z = resolveNoise(noise, new Float32Array(n), 'lcm');
      for (let k = 0; k < n; k++) o[k] = f(f(sqrtAPrev * d[k]) + f(sqrtBPrev * z[k]));
      return o;
    },
    addNoise(x0, noise, i, out) {
      return ddpmAddNoise(ac, timesteps[i], x0, noise, out);
    },
  };
}

/** DDPM forward noising q(x_t | x_0) = sqrt(alphā_t) x0 + sqrt(1 - alphā_t) noise (Ho et al. 2020 eq. 4). */
export function ddpmAddNoise(
  ac: Float32Array,
  t: number,
  x0: Float32Array,
  noise: Float32Array,
  out?: Float32Array,
): Float32Array {
  const [sa, sb] = vpScalars(ac, t);
  const o = outputBuffer(out, x0.length);
  for (let k = 0; k < x0.length; k++) o[k] = f(f(sa * x0[k]) + f(sb * noise[k]));
  return o;
}
