// The real image generator behind the domain's Generator port: resolves the prompt's base model and LoRAs,
// decodes input images, has a PipelineRunner lease the loaded model (built once per base model and LoRA set,
// shared across prompts) and run the task's pipeline with progress and cancellation, then encodes the images.
// Capabilities list exactly what is honoured; the API rejects every other non-default parameter (422).

import type {
  GenerationRequest,
  GenerationResult,
  GenerationTune,
  Generator,
  GeneratorCapabilities,
  LoraFileInfo,
  RunOptions,
} from '../domain/ports.ts';
import { embedderKey, faceSwapMissing } from '../post/faces/swap.ts';
import { isSuperResolutionInstalled } from '../post/index.ts';
import { adapterRequestOf, faceIdTags } from './adapter-request.ts';
import {
  availableControlnets,
  type ConditioningStatus,
  conditioningAvailability,
  faceIdAvailability,
  faceIdUnavailableMessage,
  unavailableMessage,
} from './conditioning.ts';
import { checkLoraOnBase } from './lora-import.ts';
import { type LoraRef, ModelManager, type ModelManagerStats, type ModelSpec } from './model-manager.ts';
import { SD_BRANCHES } from './models-dir.ts';
import { decodeImageFile, decodeMaskFile, encodeImage, type ImageFormat } from './pipeline/images.ts';
import { InProcessRunner, type PipelineRunner, type RunRequest, wantsPost } from './pipeline-runner.ts';
import { isSamplerName, SAMPLER_NAMES } from './schedulers/index.ts';

/** Where the generator finds model files; the composition root implements it over the store and blobs. */
export interface ModelResolver {
  /** the base model a prompt's tune generates with (the tune itself, or a LoRA tune's base) */
  baseModel(tune: GenerationTune): Promise<ModelSpec>;
  /** the LoRA weights of a tune as a local file, or null when the tune has none */
  loraFile(tuneId: number): Promise<{ id: string; path: string } | null>;
  /** face_swap: the tune's training images, encoded (absent: face_swap has no identity to take) */
  trainingImages?(tuneId: number): Promise<Buffer[]>;
  /** face_swap: a small file kept with the tune's blobs (its cached identity), undefined when absent */
  readTuneFile?(tuneId: number, name: string): Promise<Buffer | undefined>;
  writeTuneFile?(tuneId: number, name: string, data: Buffer): Promise<void>;
}

/** Where face_swap caches a tune's identity, next to its other blobs (tunes/<id>/…). */
export const FACE_IDENTITY_FILE = 'face-identity.json';

/**
 * The UNet graphs of engine I upsample by exactly 2 and so need latents divisible by 8 (images by 64); diffusers
 * passes the skip connection's size instead and takes any multiple of 8. Until the graph does that, other sizes
 * (e.g. aspect_ratio 16:9 -> 680x384) are generated on the next multiple of 64 and centre-cropped: the requested
 * size is honoured, but the image differs from diffusers' at that size (different noise shape).
 */
export const UNET_SIZE_MULTIPLE = 64;

export function canvasSize(width: number, height: number, multiple = UNET_SIZE_MULTIPLE) {
  return { width: Math.ceil(width / multiple) * multiple, height: Math.ceil(height / multiple) * multiple };
}

export interface SdGeneratorOptions {
  /** output encoding (default jpeg, quality 95, 4:4:4) */
  format?: ImageFormat;
  jpegQuality?: number;
  /** `<dataDir>/models` (modelsRoot): where installed ControlNets are found; without it no controlnet type is offered */
  modelsDir?: string;
}

/** Prompt fields honoured beyond the always-honoured text, seed, num_images, w/h, scheduler. */
export const SD_FEATURES = [
  'negative_prompt',
  'cfg_scale',
  'steps',
  'use_lpw',
  'denoising_strength',
  'lora_scale',
  'input_image',
  'mask_image',
  'controlnet_conditioning_scale',
  'controlnet_txt2img',
  // post-processing, run on every image after decoding (src/post, docs/post.md)
  'super_resolution',
  'hires_fix',
  'inpaint_faces',
  'face_correct',
  'color_grading',
  'film_grain',
] as const;

const TAGS = /<(lora|faceid):\d+(?::-?\d*\.?\d+)?>/gi;

/** The text the model sees: tune tags removed (they select LoRAs, they are not words). */
export function promptTextOf(text: string): string {
  return text.replace(TAGS, ' ').replace(/\s+/g, ' ').trim();
}

export class SdGenerator implements Generator {
  readonly name = 'atelier-sd'; // SD 1.x and 2.x (SD_BRANCHES); named in capability 422s

  private readonly runner: PipelineRunner;

  /** `models`: a ModelManager runs the pipelines on this thread; a PipelineRunner decides (ThreadRunner: a worker). */
  constructor(
    models: ModelManager | PipelineRunner,
    private readonly resolver: ModelResolver,
    private readonly opts: SdGeneratorOptions = {},
  ) {
    this.runner = models instanceof ModelManager ? new InProcessRunner(models) : models;
  }

  /** Loaded-model counters of the runner (loads, evictions, what is loaded). */
  stats(): Promise<ModelManagerStats> {
    return this.runner.stats();
  }

  /** Disposes every loaded model and stops the generation thread (server shutdown). */
  close(): Promise<void> {
    return this.runner.close();
  }

  /** Every controlnet type's status (reads only safetensors headers; a type installed later shows up at once). */
  private controlStatus(): ConditioningStatus[] {
    return this.opts.modelsDir ? conditioningAvailability(this.opts.modelsDir) : [];
  }

  capabilities(): GeneratorCapabilities {
    const statuses = this.controlStatus();
    // super_resolution (and so hires_fix / inpaint_faces, which need it) only when the ESRGAN package is there
    const sr = isSuperResolutionInstalled();
    // face_swap when its two networks are installed; else the 422 names what to install
    const swapMissing = faceSwapMissing(this.opts.modelsDir);
    // faceid (`<faceid:ID:w>`, prompts on faceid tunes) when the FaceID adapter and ArcFace are installed
    const faceId = this.opts.modelsDir ? faceIdAvailability(this.opts.modelsDir) : undefined;
    const faceIdMissing = !faceId
      ? 'FaceID needs a models directory (none is configured for this generator)'
      : faceId.available
        ? undefined
        : faceIdUnavailableMessage(faceId);
    const features: string[] = SD_FEATURES.filter(
      (f) => sr || !['super_resolution', 'hires_fix', 'inpaint_faces'].includes(f),
    );
    if (!swapMissing) features.push('face_swap');
    if (!faceIdMissing) features.push('faceid');
    return {
      branches: [...SD_BRANCHES], // SD 1.x and 2.x: each model's graphs follow its own configs
      schedulers: [...SAMPLER_NAMES],
      controlnets: this.opts.modelsDir ? availableControlnets(this.opts.modelsDir) : [],
      controlnetReasons: Object.fromEntries(
        statuses.filter((s) => !s.available).map((s) => [s.type, unavailableMessage(s)]),
      ),
      features,
      featureReasons: {
        ...(swapMissing && { face_swap: swapMissing }),
        ...(faceIdMissing && { faceid: faceIdMissing }),
      },
      mock: false,
    };
  }

  /**
   * LoRAs of a request: every `<lora:ID:w>` tag at weight w, plus the prompt's own tune when it is a LoRA tune
   * and not tagged (weight 1); `lora_scale`, when given, multiplies every weight.
   */
  async lorasOf(req: GenerationRequest): Promise<LoraRef[]> {
    const wanted = new Map<number, number>();
    const faceIds = faceIdTags(req); // <faceid:ID:w> tags select the FaceID adapter, not LoRAs
    for (const l of req.loras)
      if (!faceIds.has(l.tuneId)) wanted.set(l.tuneId, (wanted.get(l.tuneId) ?? 0) + l.weight);
    if (req.tune.modelType === 'lora' && !wanted.has(req.tune.id)) wanted.set(req.tune.id, 1);
    const out: LoraRef[] = [];
    for (const [tuneId, weight] of wanted) {
      const file = await this.resolver.loraFile(tuneId);
      if (!file) {
        if (tuneId === req.tune.id) continue; // the prompt's own tune without weights (e.g. a base model)
        throw new Error(`tune ${tuneId} has no LoRA weights to apply`);
      }
      out.push({ ...file, scale: weight * (req.loraScale ?? 1) });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** LoRA import: the file must fit the installed base model of `baseTuneId` (lora-import.ts). */
  checkLora(data: Buffer, baseTuneId: number | null, field: string): Promise<LoraFileInfo> {
    return checkLoraOnBase(this.resolver, 'sd15', data, baseTuneId, field);
  }

  async generate(req: GenerationRequest, run: RunOptions): Promise<GenerationResult> {
    run.signal.throwIfAborted();
    if (req.scheduler !== null && !isSamplerName(req.scheduler))
      throw new Error(`scheduler ${req.scheduler} is not installed`);
    const faceSwapSource = req.faceSwap ? await this.faceSwapSource(req.tune) : undefined;
    const control = this.controlOf(req);
    const spec = await this.resolver.baseModel(req.tune);
    const loras = await this.lorasOf(req);
    const adapter = await adapterRequestOf(req, this.controlStatus(), this.opts.modelsDir, (id) =>
      this.resolver.loraFile(id),
    );
    const { width, height } = canvasSize(req.width, req.height);
    const initImage = req.inputImage ? await decodeImageFile(req.inputImage, width, height) : undefined;
    const mask = req.maskImage ? await decodeMaskFile(req.maskImage, width, height) : undefined;
    run.onProgress?.({ phase: 'loading', step: 1, total: 1 });
    const post = {
      super_resolution: req.superResolution,
      hires_fix: req.hiresFix,
      inpaint_faces: req.inpaintFaces,
      face_correct: req.faceCorrect,
      face_swap: req.faceSwap,
      color_grading: req.colorGrading,
      film_grain: req.filmGrain,
    };
    const out = await this.runner.run(
      {
        spec,
        loras,
        control,
        adapter,
        crop: { width: req.width, height: req.height },
        post: wantsPost(post) ? post : undefined,
        modelsDir: this.opts.modelsDir,
        faceSwapSource,
        options: {
          text: promptTextOf(req.text),
          negativePrompt: req.negativePrompt,
          numImages: req.numImages,
          width,
          height,
          seed: req.seed,
          steps: req.steps,
          cfgScale: req.cfgScale,
          sampler: req.scheduler ?? undefined,
          useLpw: req.useLpw,
          initImage,
          mask,
          denoisingStrength: req.denoisingStrength,
        },
      },
      run.signal,
      (p) => run.onProgress?.(p),
    );
    if (out.faceIdentity) await this.cacheFaceIdentity(req.tune.id, out.faceIdentity);
    run.signal.throwIfAborted();
    const format = this.opts.format ?? 'jpeg';
    const images = [];
    for (const rgb of out.rgb) {
      const data = await encodeImage(rgb, out.width, out.height, format, this.opts.jpegQuality);
      images.push({ data, contentType: `image/${format}` as const, width: out.width, height: out.height });
    }
    return {
      images,
      notes: [],
      resolved: {
        steps: out.resolved.steps,
        scheduler: out.resolved.sampler,
        cfgScale: out.resolved.cfgScale,
      },
    };
  }

  /**
   * face_swap's identity for `tune`: the one cached with its blobs when it was computed by the installed
   * embedding network, else its training images for the runner to compute it from (then cached).
   */
  private async faceSwapSource(tune: GenerationTune): Promise<RunRequest['faceSwapSource']> {
    const missing = faceSwapMissing(this.opts.modelsDir);
    if (missing || !this.opts.modelsDir) throw new Error(missing ?? 'face_swap needs the models dir');
    const key = embedderKey(this.opts.modelsDir);
    const cached = await this.resolver.readTuneFile?.(tune.id, FACE_IDENTITY_FILE);
    if (cached) {
      try {
        const c = JSON.parse(cached.toString('utf8')) as { key?: string; identity?: number[] };
        if (c.key === key && Array.isArray(c.identity) && c.identity.length > 0)
          return { key, identity: Float32Array.from(c.identity) };
      } catch {
        // unreadable cache: recomputed below and overwritten
      }
    }
    const images = (await this.resolver.trainingImages?.(tune.id)) ?? [];
    if (!images.length)
      throw new Error(`face_swap: tune ${tune.id} has no training images to take the face identity from`);
    return { key, images: images.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) };
  }

  private async cacheFaceIdentity(tuneId: number, f: { key: string; identity: Float32Array }): Promise<void> {
    const json = JSON.stringify({ key: f.key, identity: Array.from(f.identity) });
    await this.resolver.writeTuneFile?.(tuneId, FACE_IDENTITY_FILE, Buffer.from(json));
  }

  /** The run's ControlNet request, or an error naming what to install when the type is not available. */
  private controlOf(req: GenerationRequest): RunRequest['control'] {
    if (!req.controlnet) return undefined;
    if (req.maskImage) throw new Error('a mask cannot be combined with controlnet');
    const status = this.controlStatus().find((s) => s.type === req.controlnet);
    if (status?.kind === 'ip-adapter') return undefined; // an image-prompt adapter: adapterRequestOf
    if (!status?.available || !status.controlnetPath)
      throw new Error(status ? unavailableMessage(status) : `unknown controlnet ${req.controlnet}`);
    return {
      type: status.type,
      controlnetPath: status.controlnetPath,
      annotatorDir: status.annotatorDir,
      scale: req.controlnetConditioningScale ?? undefined,
      txt2img: req.controlnetTxt2img,
    };
  }
}
