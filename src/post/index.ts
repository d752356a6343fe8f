import { colorGradingStage, isColorGradingPreset } from './color-grading.ts';
import { esrganModelJson } from './esrgan/models.ts';
import type { EsrganOptions, UpscaleOptions } from './esrgan/upscaler.ts';
import { type FaceDetectorLike, inpaintFacesStage } from './faces/inpaint.ts';
import { FACE_CORRECT_FALLBACK_STRENGTH, type FaceRestorer, faceRestoreStage } from './faces/restore.ts';
import { filmGrainStage } from './film-grain.ts';
import { hiresFixStage, type Img2ImgRunner } from './hires-fix.ts';
import { type PostStage, type RawImage, throwIfAborted } from './types.ts';

export type { ColorGradingPreset } from './color-grading.ts';
export { COLOR_GRADING_PRESETS } from './color-grading.ts';
export type { EncodedImage, EncodeOptions, OutputFormat, ThumbnailOptions } from './encode.ts';
export { encodeImage, makeThumbnail, OUTPUT_FORMATS } from './encode.ts';
export type { EsrganOptions, UpscaleOptions } from './esrgan/upscaler.ts';
export type { Img2ImgRequest, Img2ImgRunner } from './hires-fix.ts';
export type { PostContext, PostStage, RawImage } from './types.ts';

/**
 * The prompt parameters that post-processing acts on (names as in the Astria API). Stages run in this fixed order:
 *
 *   super_resolution → hires_fix → face_swap → inpaint_faces → face_correct → color_grading → film_grain
 *
 * Upscaling comes first so that every later stage works at output resolution; hires fix needs the upscaled
 * image; grading is a global colour transform of the finished picture; grain comes last so it is neither
 * upscaled nor colour-graded, and its size is one output pixel whatever the scale.
 */
export interface PostParams {
  seed: number;
  super_resolution?: boolean | null;
  hires_fix?: boolean | null;
  inpaint_faces?: boolean | null;
  face_correct?: boolean | null;
  face_swap?: boolean | null;
  color_grading?: string | null;
  film_grain?: boolean | null;
}

/** What the running worker can provide; a requested stage whose provider is missing is rejected. */
export interface PostProviders {
  /** A ×4 super-resolution stage, normally `await createSuperResolutionStage()`. */
  superResolution?: PostStage;
  /** The engine's img2img pipeline for the prompt's model, needed by `hires_fix`. */
  img2img?: Img2ImgRunner;
  /** A face detector (normally `await sharedFaceDetector()`); with `img2img` it enables `inpaint_faces`. */
  faceDetector?: FaceDetectorLike;
  /** An installed restoration network (faces/restore.ts): `face_correct` uses it instead of img2img. */
  faceRestorer?: Pick<FaceRestorer, 'config' | 'restore'>;
  /**
   * The `face_swap` stage for this prompt (faces/swap.ts `faceSwapStage`: swap network + the tune's identity), built
   * by the runner, which holds the networks (swap.ts loads onnxruntime; this module must not).
   */
  faceSwap?: PostStage;
}

/**
 * The default `super_resolution` stage (ESRGAN thick, tiled). Imported lazily so that modules which only plan or
 * validate stages (the API) never load onnxruntime.
 */
export async function createSuperResolutionStage(
  opts: EsrganOptions & UpscaleOptions = {},
): Promise<PostStage & { dispose(): Promise<void> }> {
  const { esrganStage } = await import('./esrgan/upscaler.ts');
  return esrganStage(opts);
}

/** A parameter asked for an operation this installation cannot perform; the API maps it to 422 on `field`. */
export class PostStageUnavailableError extends Error {
  constructor(
    readonly field: keyof PostParams,
    message: string,
  ) {
    super(message);
    this.name = 'PostStageUnavailableError';
  }
}

/** Which operations this installation can perform (what the API knows before any worker has loaded a model). */
export interface PostCapabilities {
  superResolution: boolean;
  img2img: boolean;
  /** a face detector is installed (inpaint_faces also needs img2img) */
  faces?: boolean;
  /** a face restoration network is installed (face_correct then needs no img2img) */
  faceRestore?: boolean;
  /** the face swap and face embedding networks are installed */
  faceSwap?: boolean;
  /** when they are not: what to install (faces/swap.ts faceSwapMissing), the 422's text */
  faceSwapMissing?: string;
}

/** True when the default ESRGAN package is installed; reads no weights and does not load onnxruntime. */
export function isSuperResolutionInstalled(): boolean {
  try {
    esrganModelJson('thick');
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws PostStageUnavailableError for the first requested operation that cannot be honoured. The API calls this
 * at create time (422 on the field); `planPostStages` calls it again in the worker.
 */
export function checkPostParams(params: PostParams, can: PostCapabilities): void {
  if (params.hires_fix && !params.super_resolution) {
    throw new PostStageUnavailableError('hires_fix', 'hires_fix requires super_resolution');
  }
  if (params.inpaint_faces && !params.super_resolution) {
    throw new PostStageUnavailableError('inpaint_faces', 'inpaint_faces requires super_resolution');
  }
  if (params.super_resolution && !can.superResolution) {
    throw new PostStageUnavailableError('super_resolution', 'no super-resolution model is installed');
  }
  if (params.hires_fix && !can.img2img) {
    throw new PostStageUnavailableError('hires_fix', 'hires_fix needs an img2img pipeline for this model');
  }
  if (params.inpaint_faces && !(can.img2img && can.faces)) {
    throw new PostStageUnavailableError(
      'inpaint_faces',
      'inpaint_faces needs a face detector and an img2img pipeline for this model',
    );
  }
  if (params.face_correct && !(can.faces && (can.faceRestore || can.img2img))) {
    throw new PostStageUnavailableError(
      'face_correct',
      'face_correct needs a face detector and either a face restoration network (<dataDir>/models/faces/restore.onnx, GFPGAN v1.4 or CodeFormer ONNX) or an img2img pipeline for this model',
    );
  }
  if (params.face_swap && !can.faceSwap) {
    throw new PostStageUnavailableError(
      'face_swap',
      can.faceSwapMissing ??
        'face_swap needs a face swap network (<dataDir>/models/faces/swap.onnx) and a face embedding network (<dataDir>/models/faces/arcface.onnx)',
    );
  }
  if (
    params.color_grading != null &&
    params.color_grading !== '' &&
    !isColorGradingPreset(params.color_grading)
  ) {
    throw new PostStageUnavailableError(
      'color_grading',
      `unknown color_grading ${JSON.stringify(params.color_grading)}; expected Film Velvia, Film Portra or Ektar`,
    );
  }
}

/** The stages to run for these parameters, in order; throws PostStageUnavailableError for any it cannot honour. */
export function planPostStages(params: PostParams, providers: PostProviders = {}): PostStage[] {
  checkPostParams(params, {
    superResolution: !!providers.superResolution,
    img2img: !!providers.img2img,
    faces: !!providers.faceDetector,
    faceRestore: !!providers.faceRestorer,
    faceSwap: !!providers.faceSwap,
  });
  const stages: PostStage[] = [];
  if (params.super_resolution && providers.superResolution) stages.push(providers.superResolution);
  if (params.hires_fix && providers.img2img) stages.push(hiresFixStage(providers.img2img));
  // docs/faces.md: after hires fix (faces redrawn at output resolution), before grading; the swap first, so that
  // inpaint_faces / face_correct refine the swapped (128 px) face
  if (params.face_swap && providers.faceSwap) stages.push(providers.faceSwap);
  if (params.inpaint_faces && providers.img2img && providers.faceDetector)
    stages.push(inpaintFacesStage(providers.faceDetector, providers.img2img));
  // face_correct after any redraw of the faces, so it has the last word on them (docs/faces.md)
  if (params.face_correct && providers.faceDetector) {
    if (providers.faceRestorer) stages.push(faceRestoreStage(providers.faceDetector, providers.faceRestorer));
    else if (providers.img2img)
      stages.push(
        inpaintFacesStage(providers.faceDetector, providers.img2img, {
          strength: FACE_CORRECT_FALLBACK_STRENGTH,
          name: 'face_correct',
        }),
      );
  }
  if (isColorGradingPreset(params.color_grading)) stages.push(colorGradingStage(params.color_grading));
  if (params.film_grain) stages.push(filmGrainStage());
  return stages;
}

export interface PostProgress {
  stage: string;
  stageIndex: number;
  stageCount: number;
  /** Units done and total inside the current stage. */
  done: number;
  total: number;
  /** Overall fraction 0–1, each stage counting equally. */
  fraction: number;
}

export interface RunPostOptions {
  providers?: PostProviders;
  signal?: AbortSignal;
  onProgress?(p: PostProgress): void;
}

export async function runPostStages(
  img: RawImage,
  params: PostParams,
  opts: RunPostOptions = {},
): Promise<RawImage> {
  const stages = planPostStages(params, opts.providers);
  let current = img;
  for (let i = 0; i < stages.length; i++) {
    throwIfAborted(opts.signal);
    const stage = stages[i];
    current = await stage.run(current, {
      seed: params.seed,
      signal: opts.signal,
      onProgress: (done, total) =>
        opts.onProgress?.({
          stage: stage.name,
          stageIndex: i,
          stageCount: stages.length,
          done,
          total,
          fraction: (i + (total > 0 ? done / total : 1)) / stages.length,
        }),
    });
  }
  return current;
}
