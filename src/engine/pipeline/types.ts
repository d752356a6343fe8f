// Shared types of the diffusion pipelines: the loaded model bundle they run on, the request, progress.

import type { Tensor, TextEncoder, Unet, Vae } from '../components.ts';
import type { SamplerName, SchedulerConfig } from '../schedulers/index.ts';
import type { ClipTokenizer } from '../tokenizer/index.ts';

/** Everything a pipeline needs from one installed base model (sessions already open). */
export interface SdModel {
  clip: TextEncoder;
  unet: Unet;
  vae: Vae;
  tokenizer: ClipTokenizer;
  scheduler: SchedulerConfig;
  /** the model's default sampler and step count (from its scheduler config / manifest) */
  defaultSampler: SamplerName;
  defaultSteps: number;
  /** guidance scale for requests that leave it to the model (e.g. 0 for distilled few-step models) */
  defaultCfgScale?: number;
  /** a 9-channel inpainting UNet for this model, when installed beside it */
  inpaintUnet?: Unet;
}

export interface PipelineProgress {
  phase: 'encoding' | 'denoising' | 'decoding';
  /** 1-based */
  step: number;
  total: number;
}

/** Text conditioning, already encoded: [1, tokens, hidden] each (tokens may exceed 77 for chunked prompts). */
export interface Conditioning {
  cond: Tensor;
  uncond: Tensor;
}

export interface GenerateOptions {
  text: string;
  negativePrompt: string;
  numImages: number;
  width: number;
  height: number;
  /** image i uses a torch generator seeded seed + i */
  seed: number;
  /** 0 = the model's default */
  steps: number;
  cfgScale: number;
  /** undefined = the model's default */
  sampler?: SamplerName;
  /** A1111 weights and >77-token chunking */
  useLpw?: boolean;
  /** img2img / inpainting source, NHWC float in [0, 1] at width x height */
  initImage?: Tensor;
  /** inpainting mask, NHWC [1, H, W, 1] in [0, 1] (1 = repaint) at width x height */
  mask?: Tensor;
  /** img2img / inpainting: fraction of the schedule that runs (1 = from pure noise) */
  denoisingStrength?: number;
  /** precomputed conditioning (parity tests; bypasses the text encoder) */
  conditioning?: Conditioning;
  /** initial Gaussian latents [B, 4, h, w] instead of drawing them (diffusers' `latents` argument) */
  initialLatents?: Float32Array;
  signal?: AbortSignal;
  onProgress?: (p: PipelineProgress) => void;
}

export interface PipelineOutput {
  /** final latents [B, 4, h, w] (before the 1/scaling_factor division) */
  latents: Tensor;
  /** latents after each solver step (parity tests) */
  stepLatents: Float32Array[];
  /** decoded images NHWC float in [0, 1] */
  images: Tensor;
  sampler: SamplerName;
  steps: number;
}
