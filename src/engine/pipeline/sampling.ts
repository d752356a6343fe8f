// The part every task shares: pick the sampler (request or model default), run its model calls with progress
// and cancellation between steps, decode the latents. The tasks differ only in their start latents and in
// what they do around each step (inpainting's extra channels or latent blending).

import type { Tensor } from '../components.ts';
import { createSampler, type Sampler, type SamplerName } from '../schedulers/index.ts';
import type { GuidedDenoiser } from './guidance.ts';
import { vaeOutputToNhwc } from './images.ts';
import type { PerImageNoise } from './noise.ts';
import type { GenerateOptions, PipelineProgress, SdModel } from './types.ts';

const f = Math.fround;

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

export interface SamplerChoice {
  sampler: Sampler;
  name: SamplerName;
  steps: number;
}

export function chooseSampler(model: SdModel, opts: GenerateOptions): SamplerChoice {
  const name = opts.sampler ?? model.defaultSampler;
  const steps = opts.steps > 0 ? opts.steps : model.defaultSteps;
  // DPM++ SDE's Brownian tree is seeded from the prompt seed, so the same seed reproduces it.
  const sampler = createSampler(name, model.scheduler, steps, { noiseSeed: BigInt(opts.seed) });
  return { sampler, name, steps };
}

export interface LoopHooks {
  /** extra UNet input channels for model call i (9-channel inpainting) */
  extraChannels?: Float32Array;
  /** after each solver update (latent-mask blending) */
  afterStep?: (i: number, x: Float32Array) => void;
}

/** Model calls startIndex..end; returns the final latents and the latents after each call. */
export async function runDenoiseLoop(
  sampler: Sampler,
  denoise: GuidedDenoiser,
  x: Float32Array,
  noise: PerImageNoise,
  opts: GenerateOptions,
  startIndex: number,
  hooks: LoopHooks = {},
): Promise<{ latents: Float32Array; stepLatents: Float32Array[] }> {
  const total = sampler.timesteps.length - startIndex;
  const stepLatents: Float32Array[] = [];
  const scaled = new Float32Array(x.length);
  let cur = x;
  for (let i = startIndex; i < sampler.timesteps.length; i++) {
    checkAborted(opts.signal);
    const input = sampler.scaleModelInput(cur, i, scaled);
    const eps = await denoise(input, sampler.timesteps[i], hooks.extraChannels);
    // Per-image generators feed the stochastic samplers and advance exactly as diffusers' do.
    cur = sampler.step(eps, i, cur, noise, new Float32Array(cur.length));
    hooks.afterStep?.(i, cur);
    stepLatents.push(cur);
    report(opts, { phase: 'denoising', step: i - startIndex + 1, total });
  }
  return { latents: cur, stepLatents };
}

export function report(opts: GenerateOptions, p: PipelineProgress): void {
  opts.onProgress?.(p);
}

/** latents / scaling_factor -> VAE decode -> NHWC [0, 1]. */
export async function decodeLatents(model: SdModel, latents: Tensor, opts: GenerateOptions): Promise<Tensor> {
  checkAborted(opts.signal);
  report(opts, { phase: 'decoding', step: 1, total: 1 });
  const s = model.vae.config.scalingFactor;
  const scaled = new Float32Array(latents.data.length);
  for (let k = 0; k < scaled.length; k++) scaled[k] = f(latents.data[k] / s);
  return vaeOutputToNhwc(await model.vae.decode({ data: scaled, dims: latents.dims }));
}

/** Latent dims for a request (8x VAE downsampling). */
export function latentDims(model: SdModel, opts: GenerateOptions): [number, number, number, number] {
  if (opts.width % 8 !== 0 || opts.height % 8 !== 0)
    throw new Error(`width and height must be multiples of 8, got ${opts.width}x${opts.height}`);
  return [opts.numImages, model.vae.config.latentChannels, opts.height / 8, opts.width / 8];
}

/** Encodes images NCHW [-1, 1] to latents: mean + std * noise (one draw per image), * scaling_factor. */
export async function encodeImageLatents(
  model: SdModel,
  vaeInput: Tensor,
  noise: PerImageNoise,
): Promise<Float32Array> {
  const dist = await model.vae.encode(vaeInput);
  const eps = noise.randn(dist.mean.data.length);
  const s = model.vae.config.scalingFactor;
  const out = new Float32Array(eps.length);
  for (let k = 0; k < out.length; k++) out[k] = f(f(dist.mean.data[k] + f(dist.std.data[k] * eps[k])) * s);
  return out;
}
