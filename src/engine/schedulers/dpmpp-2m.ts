// DPM-Solver++(2M): multistep second-order solver in data prediction (Lu et al. 2022,
// "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models", Algorithm 2),
// as diffusers DPMSolverMultistepScheduler (algorithm_type "dpmsolver++", solver_type "midpoint",
// lower_order_final, final_sigmas_type "zero"). With lambda = log(alpha_t / sigma_t), h = lambda_t - lambda_s:
//   first order (DDIM):  x_t = (sigma_t / sigma_s) x - alpha_t (e^{-h} - 1) D0
//   second order:        x_t = (sigma_t / sigma_s0) x - alpha_t (e^{-h} - 1) D0 - 0.5 alpha_t (e^{-h} - 1) D1,
//                        D0 = x0_pred(now), D1 = (x0_pred(now) - x0_pred(prev)) / r0, r0 = h_prev / h.
// The first step and the last (to sigma = 0) are first order.

import type { SchedulerConfig, TimestepSpacing } from './config.ts';
import { alphaSigmaFromSigma, denoiseVp } from './denoisers.ts';
import {
  alphasCumprodFor,
  interpOnIntegerGrid,
  karrasSigmas,
  logSigmas,
  multistepTimesteps,
  roundHalfEven,
  sigmaToT,
  trainingSigmas,
} from './noise-schedule.ts';
import { outputBuffer, type Sampler, type SamplerName, type StepNoise, unscaledInput } from './sampler.ts';
import { expF32, logF32 } from './scalar-math.ts';

const f = Math.fround;

/** lambda = log(alpha_t) - log(sigma_t) in float32 (+Infinity at sigma = 0). */
function lambdaOf(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const [alpha, sigmaT] = alphaSigmaFromSigma(sigma);
  return { alpha, sigmaT, lambda: f(logF32(alpha) - logF32(sigmaT)) };
}

export function dpmMultistepSchedule(
  config: SchedulerConfig,
  steps: number,
  spacing: TimestepSpacing,
  karras: boolean,
) {
  const trainSigmas = trainingSigmas(alphasCumprodFor(config));
  let timesteps = multistepTimesteps(spacing, steps, config);
  let sigmas: Float64Array;
  if (karras) {
    // diffusers flips the training sigmas: sigma_max = sigma(T-1), sigma_min = sigma(0).
    sigmas = karrasSigmas(trainSigmas[0], trainSigmas[trainSigmas.length - 1], steps);
    const logSig = logSigmas(trainSigmas);
    timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSig)));
  } else {
    sigmas = timesteps.map((t) => interpOnIntegerGrid(t, trainSigmas));
  }
  const sigmasF32 = new Float32Array(steps + 1);
  sigmasF32.set(sigmas);
  return { timesteps, sigmas: sigmasF32 };
}

export function createDpmpp2m(
  config: SchedulerConfig,
  steps: number,
  opts: { spacing: TimestepSpacing; karras: boolean },
  name: SamplerName = 'dpm++2m',
): Sampler {
  const { timesteps, sigmas } = dpmMultistepSchedule(config, steps, opts.spacing, opts.karras);
  let prevDenoised: Float32Array | null = null;
  let denoised: Float32Array | null = null;
  return {
    name,
    timesteps,
    sigmas,
    initNoiseSigma: 1,
    order: 1,
    get lastDenoised() {
      return denoised;
    },
    modelInputDivisor: () => 1,
    scaleModelInput: (x, _i, out) => unscaledInput(x, out),
    generatorDrawsAt: () => 0,
    step(modelOutput: Float32Array, i: number, x: Float32Array, _noise?: StepNoise, out?: Float32Array) {
      const n = x.length;
      const s0 = lambdaOf(sigmas[i]);
      const t = lambdaOf(sigmas[i + 1]);
      const d0 = denoiseVp(modelOutput, x, s0.alpha, s0.sigmaT, config.predictionType, new Float32Array(n));
      const h = f(t.lambda - s0.lambda);
      const ratio = f(t.sigmaT / s0.sigmaT);
      const phi = f(t.alpha * f(expF32(-h) - 1)); // alpha_t (e^{-h} - 1)
      const o = outputBuffer(out, n);
      const firstOrder = i === 0 || prevDenoised === null || i === steps - 1;
      if (firstOrder) {
        for (let k = 0; k < n; k++) o[k] = f(f(ratio * x[k]) - f(phi * d0[k]));
      } else {
        const s1 = lambdaOf(sigmas[i - 1]);
        const r0 = f(f(s0.lambda - s1.lambda) / h);
        const invR0 = f(1 / r0);
        const halfPhi = f(0.5 * phi);
        const d1prev = prevDenoised as Float32Array;
        for (let k = 0; k < n; k++) {
          const d1 = f(invR0 * f(d0[k] - d1prev[k]));
          o[k] = f(f(f(ratio * x[k]) - f(phi * d0[k])) - f(halfPhi * d1));
        }
      }
      prevDenoised = d0;
      denoised = d0;
      return o;
    },
    /** Variance-preserving noising at sigma_i: alpha_t x0 + sigma_t noise (diffusers DPMSolverMultistep add_noise). */
    addNoise(x0, noise, i, out) {
      const [alpha, sigmaT] = alphaSigmaFromSigma(sigmas[i]);
      const o = outputBuffer(out, x0.length);
      for (let k = 0; k < x0.length; k++) o[k] = f(f(alpha * x0[k]) + f(sigmaT * noise[k]));
      return o;
    },
  };
}
