// img2img support: where to start in the schedule for a denoising strength, and the noised start latents.
// Ref: diffusers StableDiffusionImg2ImgPipeline.get_timesteps / prepare_latents (0.27): with n steps and
// strength s, init = min(floor(n s), n) steps are run, starting at index t_start = n - init of the
// schedule (times the sampler order: DPM++ SDE has two model calls per step); the encoded image
// latents are noised to timesteps[t_start] with the sampler's add_noise (Euler: x0 + sigma noise),
// then denoising runs from there. refs/pipeline_img2img.json: 4 steps, strength 0.6 -> last 2 steps.

import type { Sampler } from './sampler.ts';

export interface Img2ImgStart {
  /** First model-call index to run. */
  startIndex: number;
  /** Number of solver steps that will run. */
  stepsRun: number;
}

export function img2imgStart(sampler: Sampler, steps: number, strength: number): Img2ImgStart {
  if (!(strength >= 0 && strength <= 1))
    throw new Error(`denoising strength must be in [0, 1], got ${strength}`);
  const init = Math.min(Math.floor(steps * strength), steps);
  const tStart = Math.max(steps - init, 0);
  return { startIndex: tStart * sampler.order, stepsRun: init };
}

/**
 * Noised start latents for img2img: add_noise(x0, noise) at the start index. With strength 0 nothing
 * runs and the clean latents are returned.
 */
export function img2imgLatents(
  sampler: Sampler,
  start: Img2ImgStart,
  x0: Float32Array,
  noise: Float32Array,
): Float32Array {
  if (start.stepsRun === 0) return x0.slice();
  return sampler.addNoise(x0, noise, start.startIndex);
}
