// `sampleX(denoise, x, sigmas, rng)`-style driver over any Sampler: the whole loop in one call.
// The pipeline can use this or drive `step` itself (for progress events / cancellation per step).

import type { NoiseSource, Sampler, StepNoise } from './sampler.ts';

/** The model: UNet (+ CFG) output for the scaled input at model call i / timestep t. */
export type Denoise = (
  scaledInput: Float32Array,
  timestep: number,
  i: number,
) => Float32Array | Promise<Float32Array>;

export interface SampleOptions {
  /** Noise for the stochastic steps (and to advance a torch-exact generator like diffusers). */
  noise?: NoiseSource;
  /** First model call (img2img); default 0. */
  startIndex?: number;
  /** Called after each model call; return false to stop early. */
  onStep?: (i: number, x: Float32Array, sampler: Sampler) => boolean | undefined;
}

/** Runs model calls startIndex..end from x (already scaled by initNoiseSigma / noised for img2img). */
export async function sample(sampler: Sampler, denoise: Denoise, x: Float32Array, opts: SampleOptions = {}) {
  const scaled = new Float32Array(x.length);
  let cur: Float32Array = x.slice();
  for (let i = opts.startIndex ?? 0; i < sampler.timesteps.length; i++) {
    const input = sampler.scaleModelInput(cur, i, scaled);
    const out = await denoise(input, sampler.timesteps[i], i);
    const noise: StepNoise | undefined = opts.noise;
    cur = sampler.step(out, i, cur, noise, cur);
    if (opts.onStep?.(i, cur, sampler) === false) break;
  }
  return cur;
}
