// Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance"):
// eps = eps_uncond + s * (eps_cond - eps_uncond), each operation rounded to float32 as in diffusers.
// The UNet batch is [uncond x B, cond x B] (negative prompt first, diffusers' order). With s <= 1 guidance
// is off: only the conditional half runs (s = 1 gives eps_cond exactly; diffusers' do_classifier_free_guidance
// is s > 1), which halves the UNet work.

import type { Tensor, Unet } from '../components.ts';
import type { Conditioning } from './types.ts';

const f = Math.fround;

export function guidanceEnabled(cfgScale: number): boolean {
  return cfgScale > 1;
}

/** Repeats a [1, T, H] tensor `times` along the batch axis. */
export function repeatBatch(t: Tensor, times: number): Tensor {
  const out = new Float32Array(t.data.length * times);
  for (let i = 0; i < times; i++) out.set(t.data, i * t.data.length);
  return { data: out, dims: [t.dims[0] * times, ...t.dims.slice(1)] };
}

/** The encoder states of every UNet call, built once per generation. */
export function guidanceStates(c: Conditioning, batch: number, cfgScale: number): Tensor {
  const cond = repeatBatch(c.cond, batch);
  if (!guidanceEnabled(cfgScale)) return cond;
  const uncond = repeatBatch(c.uncond, batch);
  const data = new Float32Array(uncond.data.length + cond.data.length);
  data.set(uncond.data);
  data.set(cond.data, uncond.data.length);
  return { data, dims: [batch * 2, ...cond.dims.slice(1)] };
}

/** The CFG-combined model output for the scaled latents [B, 4, h, w] (+ extra channels for inpainting UNets). */
export type GuidedDenoiser = (
  scaledInput: Float32Array,
  timestep: number,
  extraChannels?: Float32Array,
) => Promise<Float32Array>;

/**
 * Wraps the UNet: duplicates the input for the two halves when guidance is on and combines the outputs.
 * `extra` (inpainting) is concatenated on the channel axis after the latents, per image.
 */
export function guidedDenoiser(
  unet: Unet,
  states: Tensor,
  latentDims: readonly number[],
  cfgScale: number,
): GuidedDenoiser {
  const [batch, channels, h, w] = latentDims;
  const guided = guidanceEnabled(cfgScale);
  const copies = guided ? 2 : 1;
  const plane = h * w;
  return async (scaled, t, extra) => {
    const extraC = extra ? extra.length / (batch * plane) : 0;
    const inC = channels + extraC;
    const perImage = inC * plane;
    const input = new Float32Array(batch * copies * perImage);
    for (let c = 0; c < copies; c++) {
      for (let b = 0; b < batch; b++) {
        const o = (c * batch + b) * perImage;
        input.set(scaled.subarray(b * channels * plane, (b + 1) * channels * plane), o);
        if (extra)
          input.set(extra.subarray(b * extraC * plane, (b + 1) * extraC * plane), o + channels * plane);
      }
    }
    const out = await unet.predict({ data: input, dims: [batch * copies, inC, h, w] }, t, states);
    if (!guided) return out.data;
    const n = batch * channels * plane;
    const eps = new Float32Array(n);
    const s = cfgScale;
    for (let k = 0; k < n; k++) {
      const u = out.data[k];
      eps[k] = f(u + f(s * f(out.data[n + k] - u)));
    }
    return eps;
  };
}
