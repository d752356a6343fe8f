// Inpainting. Ref: diffusers StableDiffusionInpaintPipeline (0.27).
// - The mask is binarised (>= 0.5 -> 1 = repaint); masked image = image * (mask < 0.5); the mask is resized
//   to latent size with nearest-neighbour sampling (torch interpolate: source pixel floor(i * 8)).
// - 9-channel inpainting UNets (runwayml inpainting layout) take [latents, mask, masked-image latents] on the
//   channel axis at every call.
// - Ordinary 4-channel UNets: after every step the unmasked region is replaced by the clean image latents noised
//   to the next timestep: x = (1 - m) * add_noise(x0, noise, t_{i+1}) + m * x ("latent-mask blending").
// Generator draws follow diffusers' order: [image encode (4-ch or strength < 1)], start noise, masked-image
// encode. Parity: refs/pipeline_inpaint.json (9-channel, strength 1).

import type { Tensor, Unet } from '../components.ts';
import { img2imgStart } from '../schedulers/index.ts';
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

const f = Math.fround;

/** Binarised mask (NHWC [1,H,W,1]) and the image with the repaint region zeroed (NHWC [1,H,W,3]). */
export function prepareMask(image: Tensor, mask: Tensor): { binary: Float32Array; maskedImage: Tensor } {
  const [, h, w, c] = image.dims;
  if (mask.dims[1] !== h || mask.dims[2] !== w)
    throw new Error(`mask is ${mask.dims[2]}x${mask.dims[1]}, image is ${w}x${h}`);
  const binary = new Float32Array(h * w);
  const masked = new Float32Array(image.data.length);
  for (let p = 0; p < h * w; p++) {
    const repaint = mask.data[p] >= 0.5;
    binary[p] = repaint ? 1 : 0;
    // masked_image = image_in_[-1,1] * (mask < 0.5); kept here in [0, 1] space as (2x-1)*keep, see below
    for (let ch = 0; ch < c; ch++) masked[p * c + ch] = repaint ? 0.5 : image.data[p * c + ch];
  }
  // 0.5 in [0, 1] maps to exactly 0 in [-1, 1] (2 * 0.5 - 1), i.e. the zeroed pixel of diffusers' masked image.
  return { binary, maskedImage: { data: masked, dims: image.dims } };
}

/** Nearest-neighbour downsampling of a [H, W] mask to [H/8, W/8] (torch.nn.functional.interpolate, mode nearest). */
export function latentMask(binary: Float32Array, h: number, w: number, lh: number, lw: number): Float32Array {
  const out = new Float32Array(lh * lw);
  for (let y = 0; y < lh; y++)
    for (let x = 0; x < lw; x++)
      out[y * lw + x] = binary[Math.floor((y * h) / lh) * w + Math.floor((x * w) / lw)];
  return out;
}

function inpaintUnetOf(model: SdModel): Unet {
  if (model.unet.config.inChannels === 9) return model.unet;
  return model.inpaintUnet ?? model.unet;
}

export async function inpaint(model: SdModel, opts: GenerateOptions): Promise<PipelineOutput> {
  if (!opts.initImage) throw new Error('inpainting needs an input image');
  if (!opts.mask) throw new Error('inpainting needs a mask image');
  const unet = inpaintUnetOf(model);
  const nineChannel = unet.config.inChannels === 9;
  if (!nineChannel && unet.config.inChannels !== 4)
    throw new Error(`inpainting: UNet with ${unet.config.inChannels} input channels is not supported`);
  const dims = latentDims(model, opts);
  const [batch, lc, lh, lw] = dims;
  const count = batch * lc * lh * lw;
  const { sampler, name, steps } = chooseSampler(model, opts);
  report(opts, { phase: 'encoding', step: 1, total: 1 });
  const cond =
    opts.conditioning ?? (await encodeConditioning(model, opts.text, opts.negativePrompt, opts.useLpw));
  const noise = new PerImageNoise(opts.seed, batch);
  const strength = opts.denoisingStrength ?? 1;
  const start = img2imgStart(sampler, steps, strength);
  const fromNoise = strength >= 1;

  const image = repeatBatch(nhwcToVaeInput(opts.initImage), batch);
  const imageLatents = !nineChannel || !fromNoise ? await encodeImageLatents(model, image, noise) : null;
  const drawn = opts.initialLatents ?? noise.randn(count);
  let x: Float32Array;
  if (fromNoise) x = Float32Array.from(drawn, (v) => f(v * sampler.initNoiseSigma));
  else x = sampler.addNoise(imageLatents as Float32Array, drawn, start.startIndex);

  const { binary, maskedImage } = prepareMask(opts.initImage, opts.mask);
  const m = latentMask(binary, opts.height, opts.width, lh, lw);
  let extra: Float32Array | undefined;
  if (nineChannel) {
    const maskedLatents = await encodeImageLatents(
      model,
      repeatBatch(nhwcToVaeInput(maskedImage), batch),
      noise,
    );
    const plane = lh * lw;
    extra = new Float32Array(batch * (1 + lc) * plane);
    for (let b = 0; b < batch; b++) {
      extra.set(m, b * (1 + lc) * plane);
      extra.set(maskedLatents.subarray(b * lc * plane, (b + 1) * lc * plane), (b * (1 + lc) + 1) * plane);
    }
  } else {
    noise.randn(count); // diffusers encodes the masked image here too (unused by 4-ch UNets): keep the stream in step
  }

  const blend = (i: number, cur: Float32Array) => {
    if (nineChannel || !imageLatents) return;
    const last = i + 1 >= sampler.timesteps.length;
    const proper = last ? imageLatents : sampler.addNoise(imageLatents, drawn, i + 1);
    const plane = lh * lw;
    for (let k = 0; k < cur.length; k++) {
      const mk = m[k % plane];
      cur[k] = f(f(f(1 - mk) * proper[k]) + f(mk * cur[k]));
    }
  };
  const denoise = guidedDenoiser(unet, guidanceStates(cond, batch, opts.cfgScale), dims, opts.cfgScale);
  const { latents, stepLatents } = await runDenoiseLoop(sampler, denoise, x, noise, opts, start.startIndex, {
    extraChannels: extra,
    afterStep: blend,
  });
  const latentTensor = { data: latents, dims: [...dims] };
  return {
    latents: latentTensor,
    stepLatents,
    images: await decodeLatents(model, latentTensor, opts),
    sampler: name,
    steps,
  };
}
