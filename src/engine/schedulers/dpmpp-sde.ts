// DPM++ SDE: the stochastic second-order (midpoint) DPM-Solver++ of k-diffusion `sample_dpmpp_sde`
// (Crowson, after Lu et al. 2022 "DPM-Solver++", SDE variant with r = 1/2), as diffusers
// DPMSolverSDEScheduler runs it: two model calls per step. With t = -log(sigma), for a step sigma -> sigma_next:
//   stage 1: x0 = D(x; sigma); go to the midpoint s = exp(-(t + (t_next - t)/2)) with the ancestral split
//            (sigma_down, sigma_up) of [sigma -> s]: x_mid = (sigma_down/sigma) x - expm1(t - t_down) x0 + sigma_up z1
//   stage 2: x0' = D(x_mid; s); from the ORIGINAL x go to sigma_next with the split of [sigma -> sigma_next]:
//            x_next = (sigma_down'/sigma) x - expm1(t - t_down') x0' + sigma_up' z2
// The last step (sigma_next = 0) is one Euler call. Noise z comes from one Brownian path over
// [sigma_min, sigma_max] queried on [sigma, s] and [sigma, sigma_next] (brownian.ts), so the two
// stages get correlated noise, as the SDE requires.

import { BrownianNoiseSampler } from './brownian.ts';
import type { SchedulerConfig, TimestepSpacing } from './config.ts';
import { denoiseSigmaSpace, sigmaInputDivisor } from './denoisers.ts';
import { ancestralStep } from './euler-ancestral.ts';
import { sigmaToT } from './noise-schedule.ts';
import { outputBuffer, type Sampler, type StepNoise } from './sampler.ts';
import { expF32, expm1F32, logF32 } from './scalar-math.ts';
import { sigmaInitNoise, sigmaSchedule } from './sigma-schedule.ts';

const f = Math.fround;
const tOf = (sigma: number) => -logF32(sigma); // t_fn: -log(sigma), float32
const sigmaOf = (t: number) => expF32(-t); // sigma_fn: exp(-t), float32

export interface DpmppSdeOptions {
  spacing: TimestepSpacing;
  karras: boolean;
  /** Seed of the Brownian noise used when step() gets no noise (production: derive it from the prompt seed). */
  noiseSeed?: number | bigint;
}

export function createDpmppSde(config: SchedulerConfig, steps: number, opts: DpmppSdeOptions): Sampler {
  const sched = sigmaSchedule(config, steps, opts.spacing, opts.karras);
  const s64 = sched.sigmas;
  // Model-call timesteps: t_0, then per later sigma the midpoint timestep and the sigma's own timestep.
  const timesteps = new Float64Array(2 * steps - 1);
  // Sigmas per model call: [s0, s1, s1, s2, s2, ..., s_{n-1}, s_{n-1}, 0].
  const sigmas = new Float32Array(2 * steps);
  timesteps[0] = sched.timesteps[0];
  sigmas[0] = s64[0];
  for (let j = 1; j < steps; j++) {
    // Midpoint in log-sigma between s_{j-1} and s_j (float64, diffusers `_second_order_timesteps`).
    const tA = -Math.log(s64[j - 1]);
    const tB = -Math.log(s64[j]);
    timesteps[2 * j - 1] = sigmaToT(Math.exp(-(tA + (tB - tA) * 0.5)), sched.trainLogSigmas);
    timesteps[2 * j] = sched.timesteps[j];
    sigmas[2 * j - 1] = s64[j];
    sigmas[2 * j] = s64[j];
  }
  let sigmaMin = Number.POSITIVE_INFINITY;
  let sigmaMax = 0;
  for (const s of sigmas) {
    if (s > 0 && s < sigmaMin) sigmaMin = s;
    if (s > sigmaMax) sigmaMax = s;
  }
  // Stage-2 model calls (odd i) see the midpoint sigma exp(-(t + (t_next - t)/2)), float32 as diffusers'
  // `mid_point_sigma`; it depends only on the schedule.
  const inputSigmas = Float32Array.from(sigmas, (s, i) => {
    if (i % 2 === 0 || i >= 2 * steps - 1) return s;
    const t = tOf(sigmas[i - 1]);
    return sigmaOf(f(t + f(f(tOf(s) - t) * 0.5)));
  });
  let stored: Float32Array | null = null; // x before stage 1 (diffusers `self.sample`)
  let brownian: BrownianNoiseSampler | null = null;
  let denoised: Float32Array | null = null;
  const lastInterval: [number, number] = [Number.NaN, Number.NaN];

  const drawNoise = (from: number, to: number, noise: StepNoise | undefined, n: number): Float32Array => {
    lastInterval[0] = from;
    lastInterval[1] = to;
    // Given values (e.g. recorded torchsde noise) are used as they are. A generator is NOT drawn from:
    // like diffusers' DPMSolverSDEScheduler, the noise comes from the Brownian path, so the pipeline's
    // torch generators stay where diffusers leaves them (generatorDrawsAt = 0).
    if (noise instanceof Float32Array) {
      if (noise.length !== n) throw new Error(`dpm++sde: noise has ${noise.length} values, want ${n}`);
      return noise;
    }
    brownian ??= new BrownianNoiseSampler(sigmaMin, sigmaMax, n, opts.noiseSeed ?? 0);
    return brownian.noise(from, to, new Float32Array(n));
  };

  const sampler: Sampler & { readonly lastNoiseInterval: readonly [number, number] } = {
    name: opts.karras ? 'dpm++sde_karras' : 'dpm++sde',
    timesteps,
    sigmas,
    initNoiseSigma: sigmaInitNoise(sigmas, opts.spacing),
    order: 2,
    get lastDenoised() {
      return denoised;
    },
    get lastNoiseInterval() {
      return lastInterval;
    },
    modelInputDivisor: (i) => sigmaInputDivisor(inputSigmas[i]),
    scaleModelInput(x, i, out) {
      const d = sampler.modelInputDivisor(i);
      const o = outputBuffer(out, x.length);
      for (let k = 0; k < x.length; k++) o[k] = x[k] / d;
      return o;
    },
    generatorDrawsAt: () => 0,
    step(modelOutput, i, x, noise, out) {
      const n = x.length;
      const firstStage = stored === null;
      const sigma = firstStage ? sigmas[i] : sigmas[i - 1];
      const sigmaNext = firstStage ? sigmas[i + 1] : sigmas[i];
      const t = tOf(sigma);
      let tNext = tOf(sigmaNext);
      const tProposed = f(t + f(f(tNext - t) * 0.5));
      const sigmaIn = firstStage ? sigma : sigmaOf(tProposed);
      const x0 = denoiseSigmaSpace(modelOutput, x, sigmaIn, config.predictionType, new Float32Array(n));
      denoised = x0;
      const o = outputBuffer(out, n);
      if (sigmaNext === 0) {
        const dt = f(0 - sigma);
        for (let k = 0; k < n; k++) o[k] = f(x[k] + f(f(f(x[k] - x0[k]) / sigma) * dt));
        return o;
      }
      if (firstStage) tNext = tProposed;
      // Stage 2 restarts from the x stage 1 began with: keep our own copy (the caller may step in place).
      const base = firstStage ? x.slice() : (stored as Float32Array);
      const sigmaFrom = sigmaOf(t);
      const sigmaTo = sigmaOf(tNext);
      let [down, up] = ancestralStep(sigmaFrom, sigmaTo);
      if (sigmaTo < up) {
        up = sigmaTo; // python min(sigma_to, sigma_up) keeps its first argument on ties
        down = f(Math.sqrt(f(f(sigmaTo * sigmaTo) - f(up * up))));
      }
      const tDown = tOf(down);
      const ratio = f(sigmaOf(tDown) / sigmaOf(t));
      const em1 = expm1F32(f(t - tDown));
      const z = drawNoise(sigmaFrom, sigmaTo, noise, n);
      for (let k = 0; k < n; k++) o[k] = f(f(f(ratio * base[k]) - f(em1 * x0[k])) + f(z[k] * up));
      stored = firstStage ? base : null;
      return o;
    },
    addNoise(x0, noise, i, out) {
      const o = outputBuffer(out, x0.length);
      const s = sigmas[i];
      for (let k = 0; k < x0.length; k++) o[k] = f(x0[k] + f(noise[k] * s));
      return o;
    },
  };
  return sampler;
}
