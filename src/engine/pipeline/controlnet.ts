// ControlNet-conditioned generation. Ref: diffusers StableDiffusionControlNetPipeline and
// StableDiffusionControlNetImg2ImgPipeline (0.27). Per model call the ControlNet runs on exactly the UNet's
// CFG batch ([uncond x B, cond x B] of scale_model_input(latents), the same timestep and text states, the
// control image repeated to the batch, no normalisation: values in [0, 1]); its residuals, already multiplied
// by controlnet_conditioning_scale, are added to the UNet's skip connections and mid block; CFG and the
// sampler step are the ordinary ones. `txt2img` chooses the start: pure noise (txt2img with control) or the
// input image encoded and noised to the denoising strength (img2img with control; Astria's
// controlnet_txt2img=false, where the input image is both the init image and, preprocessed, the control image).
// Parity: refs/controlnet.json "pipeline" (txt2img with control, Euler, 4 steps, CFG 7.5, scale 0.8).

import type { ScaledLora } from '../checkpoint/lora.ts';
import { openCheckpoint } from '../checkpoint/open.ts';
import { type Tensor, Unet } from '../components.ts';
import { compileCached } from '../graph/cache.ts';
import type { LoadOptions } from '../load.ts';
import { type LoraSetIdentity, mergedGraph } from '../lora-graphs.ts';
import { type ControlNet, type ControlNetConfig, loadControlNet } from '../models/controlnet.ts';
import { buildUnetGraph, type UnetConfig, unetSkipCount } from '../models/unet.ts';
import { OrtSession, type SessionSettings } from '../ort.ts';
import { Annotator, preprocessControlImage } from '../preprocess/index.ts';
import { img2imgLatents, img2imgStart } from '../schedulers/index.ts';
import { encodeConditioning } from './conditioning.ts';
import { type GuidedDenoiser, guidanceEnabled, guidanceStates, repeatBatch } from './guidance.ts';
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

/** controlnet_conditioning_scale when the prompt leaves it blank (diffusers' default). */
export const DEFAULT_CONTROLNET_CONDITIONING_SCALE = 1;

/** A base model plus what control needs: a UNet graph with residual inputs and the ControlNet itself. */
export interface ControlledSdModel extends SdModel {
  /** the base UNet built with `controlResiduals` (load.ts `unet: { controlResiduals: true }`) */
  controlUnet: Unet;
  controlnet: ControlNet;
  /** the type's ONNX annotator, open (network types) */
  annotator?: Annotator;
}

/** Where a type's networks are installed (ConditioningStatus.controlnetPath / annotatorDir). */
export type ControlNetworks = Pick<ControlRequest, 'controlnetPath' | 'annotatorDir'>;

export interface ControlOptions extends GenerateOptions {
  /** the preprocessed control image, NHWC [1, H, W, 3] in [0, 1] at width x height */
  controlImage: Tensor;
  /** controlnet_conditioning_scale (Astria range 0..1) */
  conditioningScale: number;
  /** controlnet_txt2img: true starts from noise; false runs img2img from `initImage` */
  txt2img: boolean;
}

/** A ControlNet only fits the UNet whose encoder it copies: same widths, depth and text-state width. */
export function assertControlNetFits(cn: ControlNetConfig, unet: UnetConfig): void {
  const mismatch: string[] = [];
  if (cn.blockOutChannels.join(',') !== unet.blockOutChannels.join(','))
    mismatch.push(`block widths ${cn.blockOutChannels} vs ${unet.blockOutChannels}`);
  if (cn.layersPerBlock !== unet.layersPerBlock)
    mismatch.push(`layers per block ${cn.layersPerBlock} vs ${unet.layersPerBlock}`);
  if (cn.crossAttentionDim !== unet.crossAttentionDim)
    mismatch.push(`cross-attention width ${cn.crossAttentionDim} vs ${unet.crossAttentionDim}`);
  if (mismatch.length)
    throw new Error(`the ControlNet does not fit this base model's UNet (${mismatch.join('; ')})`);
}

/** The LoRAs of the generation as ModelManager.loraWeights reads them (layers to patch, scales, set identity). */
export interface ControlLoras {
  weights: ScaledLora[];
  set: LoraSetIdentity[];
}

/**
 * The base UNet compiled with residual inputs (cache key exactly as load.ts computes it, so a graph compiled by
 * loadParts is reused), with the generation's LoRAs merged into a copy of its weights when they touch the UNet
 * (the same merge-mode patch as the plain UNet: the initializer names do not change with residual inputs).
 */
export async function openControlUnet(
  basePath: string,
  cfg: UnetConfig,
  load: LoadOptions & { cacheDir: string },
  loras?: ControlLoras,
): Promise<Unet> {
  const ck = openCheckpoint(basePath);
  let modelPath: string;
  try {
    const un = ck.unet;
    if (!un) throw new Error(`${basePath}: no UNet`);
    const build = { ...load.unet, controlResiduals: true };
    const compiled = compileCached({
      cacheDir: load.cacheDir,
      component: 'unet',
      identity: un.source.identity(),
      options: { cfg, build },
      build: () => buildUnetGraph(un.source, cfg, build),
    });
    const touchesUnet = loras?.weights.some((w) => w.weights.layers.some((l) => l.component === 'unet'));
    modelPath =
      loras && touchesUnet
        ? mergedGraph(compiled, 'unet', loras.weights, loras.set, load.cacheDir).modelPath
        : compiled.modelPath;
  } finally {
    ck.close();
  }
  return new Unet(cfg, await OrtSession.create(modelPath, load.session), unetSkipCount(cfg));
}

/**
 * Adds control to a loaded base model: its UNet compiled again with residual inputs (a second session on
 * the same weights, LoRA-merged like the base model's when `loras` is given), the ControlNet at
 * `controlnetPath` and, for network types, the annotator in `annotatorDir`. `dispose` closes only what this
 * opened; the base model stays with its owner.
 */
export async function openControlledModel(
  base: SdModel,
  basePath: string,
  networks: ControlNetworks,
  load: LoadOptions & { cacheDir: string },
  loras?: ControlLoras,
): Promise<{ model: ControlledSdModel; dispose(): Promise<void> }> {
  const opened: { dispose(): Promise<void> }[] = [];
  const dispose = async () => {
    await Promise.all(opened.map((o) => o.dispose()));
  };
  try {
    const controlnet = await loadControlNet(networks.controlnetPath, {
      cacheDir: load.cacheDir,
      session: load.session,
    });
    opened.push(controlnet);
    assertControlNetFits(controlnet.config, base.unet.config);
    const controlUnet = await openControlUnet(basePath, base.unet.config, load, loras);
    opened.push(controlUnet);
    const annotator = networks.annotatorDir
      ? await Annotator.open(networks.annotatorDir, load.session)
      : undefined;
    if (annotator) opened.push(annotator);
    return { model: { ...base, controlUnet, controlnet, annotator }, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** NHWC [1, H, W, C] in [0, 1] -> NCHW [n, C, H, W], unnormalised, repeated n times. */
export function controlImageBatch(img: Tensor, n: number): Tensor {
  const [b, h, w, c] = img.dims;
  if (b !== 1) throw new Error(`control image: expected one image, got a batch of ${b}`);
  const one = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) one[(ch * h + y) * w + x] = img.data[(y * w + x) * c + ch];
  return repeatBatch({ data: one, dims: [1, c, h, w] }, n);
}

/**
 * The CFG-combined model output with control: ControlNet and UNet see the same batch; residuals go straight
 * from one to the other. `controlBatch` is the control image already repeated to the UNet batch.
 */
export function controlledDenoiser(
  unet: Unet,
  controlnet: ControlNet,
  states: Tensor,
  latentDims: readonly number[],
  cfgScale: number,
  controlBatch: Tensor,
  conditioningScale: number,
): GuidedDenoiser {
  const [batch, channels, h, w] = latentDims;
  const guided = guidanceEnabled(cfgScale);
  const copies = guided ? 2 : 1;
  const perImage = channels * h * w;
  return async (scaled, t) => {
    const input = new Float32Array(batch * copies * perImage);
    for (let c = 0; c < copies; c++) input.set(scaled.subarray(0, batch * perImage), c * batch * perImage);
    const sample = { data: input, dims: [batch * copies, channels, h, w] };
    const residuals = await controlnet.residuals(sample, t, states, controlBatch, conditioningScale);
    const out = await unet.predict(sample, t, states, residuals);
    if (!guided) return out.data;
    const n = batch * perImage;
    const eps = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const u = out.data[k];
      eps[k] = f(u + f(cfgScale * f(out.data[n + k] - u)));
    }
    return eps;
  };
}

export async function controlnetPipeline(
  model: ControlledSdModel,
  opts: ControlOptions,
): Promise<PipelineOutput> {
  const dims = latentDims(model, opts);
  const [, ih, iw] = opts.controlImage.dims;
  if (ih !== opts.height || iw !== opts.width)
    throw new Error(`control image is ${iw}x${ih}, the request is ${opts.width}x${opts.height}`);
  if (!opts.txt2img && !opts.initImage) throw new Error('img2img with control needs an input image');
  const { sampler, name, steps } = chooseSampler(model, opts);
  report(opts, { phase: 'encoding', step: 1, total: 1 });
  const cond =
    opts.conditioning ?? (await encodeConditioning(model, opts.text, opts.negativePrompt, opts.useLpw));
  const noise = new PerImageNoise(opts.seed, opts.numImages);
  const count = dims.reduce((a, d) => a * d, 1);

  let x: Float32Array;
  let startIndex = 0;
  if (opts.txt2img) {
    const drawn = opts.initialLatents ?? noise.randn(count);
    if (drawn.length !== count) throw new Error(`initial latents: ${drawn.length} values, want ${count}`);
    x = new Float32Array(count);
    for (let k = 0; k < count; k++) x[k] = f(drawn[k] * sampler.initNoiseSigma);
  } else {
    const start = img2imgStart(sampler, steps, opts.denoisingStrength ?? 0.8);
    const images = repeatBatch(nhwcToVaeInput(opts.initImage as Tensor), opts.numImages);
    const x0 = await encodeImageLatents(model, images, noise);
    x = img2imgLatents(sampler, start, x0, noise.randn(x0.length));
    startIndex = start.startIndex;
  }

  const copies = guidanceEnabled(opts.cfgScale) ? 2 : 1;
  const denoise = controlledDenoiser(
    model.controlUnet,
    model.controlnet,
    guidanceStates(cond, opts.numImages, opts.cfgScale),
    dims,
    opts.cfgScale,
    controlImageBatch(opts.controlImage, opts.numImages * copies),
    opts.conditioningScale,
  );
  const { latents, stepLatents } = await runDenoiseLoop(sampler, denoise, x, noise, opts, startIndex);
  const latentTensor = { data: latents, dims: [...dims] };
  return {
    latents: latentTensor,
    stepLatents,
    images: await decodeLatents(model, latentTensor, opts),
    sampler: name,
    steps,
  };
}

/** What a generation with control needs beyond GenerateOptions; plain data (can cross a worker boundary). */
export interface ControlRequest {
  /** the Astria controlnet type (preprocessor choice) */
  type: string;
  /** ConditioningStatus.controlnetPath */
  controlnetPath: string;
  /** ConditioningStatus.annotatorDir (network types) */
  annotatorDir?: string;
  /** controlnet_conditioning_scale; undefined = DEFAULT_CONTROLNET_CONDITIONING_SCALE */
  scale?: number;
  /** controlnet_txt2img */
  txt2img: boolean;
}

/**
 * The whole controlled generation for a generator or pipeline runner: preprocess the input image into the
 * control image (with the model's open annotator for network types) and run on a controlled model
 * (ModelManager.acquireControlled keeps those between prompts).
 */
export async function generateWithControl(
  model: ControlledSdModel,
  control: ControlRequest,
  opts: GenerateOptions,
  annotator: { session?: SessionSettings } = {},
): Promise<PipelineOutput> {
  if (!opts.initImage) throw new Error(`controlnet "${control.type}" needs an input image`);
  const controlImage = await preprocessControlImage(control.type, opts.initImage, {
    annotator: model.annotator,
    annotatorDir: control.annotatorDir,
    session: annotator.session,
  });
  return controlnetPipeline(model, {
    ...opts,
    // txt2img with control: the input image is only the control image
    initImage: control.txt2img ? undefined : opts.initImage,
    controlImage,
    conditioningScale: control.scale ?? DEFAULT_CONTROLNET_CONDITIONING_SCALE,
    txt2img: control.txt2img,
  });
}
