// Image to image. Ref: diffusers StableDiffusionImg2ImgPipeline (0.27): the image (2x-1) is VAE-encoded and
// sampled (mean + std * noise from image i's generator), scaled by scaling_factor, noised with the sampler's
// add_noise at the first timestep that runs (with strength s and n steps, floor(n s) steps run), then
// denoised from there. Parity: refs/pipeline_img2img.json (seed only: both recorded draws come from it).

import { img2imgLatents, img2imgStart } from '../schedulers/index.ts';
import { encodeConditioning } from './conditioning.ts';
import { guidanceStates, guidedDenoiser, repeatBatch } from './guidance.ts';
import { nhwcToVaeInput } from './images.ts';
import { PerImageNoise } from './noise.ts';
import {
  chooseSampler,
  decodeLatents,
  encodeImageLatents,
  latentDims,
  report,
  runDenoiseLoop,
} from './sampling.ts';
import type { GenerateOptions, PipelineOutput, SdModel } from './types.ts';

export async function img2img(model: SdModel, opts: GenerateOptions): Promise<PipelineOutput> {
  if (!opts.initImage) throw new Error('img2img needs an input image');
  const dims = latentDims(model, opts);
  const { sampler, name, steps } = chooseSampler(model, opts);
  report(opts, { phase: 'encoding', step: 1, total: 1 });
  const cond =
    opts.conditioning ?? (await encodeConditioning(model, opts.text, opts.negativePrompt, opts.useLpw));
  const noise = new PerImageNoise(opts.seed, opts.numImages);
  const start = img2imgStart(sampler, steps, opts.denoisingStrength ?? 0.8);
  const images = repeatBatch(nhwcToVaeInput(opts.initImage), opts.numImages);
  const x0 = await encodeImageLatents(model, images, noise);
  const x = img2imgLatents(sampler, start, x0, noise.randn(x0.length));
  const denoise = guidedDenoiser(
    model.unet,
    guidanceStates(cond, opts.numImages, opts.cfgScale),
    dims,
    opts.cfgScale,
  );
  const { latents, stepLatents } = await runDenoiseLoop(sampler, denoise, x, noise, opts, start.startIndex);
  const latentTensor = { data: latents, dims: [...dims] };
  return {
    latents: latentTensor,
    stepLatents,
    images: await decodeLatents(model, latentTensor, opts),
    sampler: name,
    steps,
  };
}
