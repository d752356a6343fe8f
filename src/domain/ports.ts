// The two seams behind which image generation and training plug in. `fast` (the Astria mock branch) is the first
// implementation of each; the real engine (src/engine) and trainers (src/train) implement the same interfaces.
import type { Scheduler, Style } from './vocab.ts';

export interface ProgressEvent {
  phase: string; // e.g. 'downloading', 'denoising', 'decoding', 'training'
  step: number; // 1-based step within the phase
  total: number;
  /** training only: the step's mean loss, for logs and curves */
  loss?: number;
  /** training only: seconds left at the recent step rate (fills the tune's `eta`) */
  etaSeconds?: number;
}

export interface RunOptions {
  signal: AbortSignal; // checked between steps; aborting rejects with an AbortError
  onProgress?: (e: ProgressEvent) => void;
}

/** The tune (and LoRAs) a generation uses, as stored; weights are read from blobs by key. */
export interface GenerationTune {
  id: number;
  branch: string;
  modelType: string | null;
  token: string;
  name: string;
  weightsKey: string | null;
}

/** Every parameter resolved: no blanks, defaults applied, style applied, characteristics filled. */
export interface GenerationRequest {
  tune: GenerationTune;
  loras: { tuneId: number; weight: number }[];
  text: string;
  negativePrompt: string;
  numImages: number;
  width: number;
  height: number;
  seed: number;
  /** 0 = the model's own default (the generator resolves it and reports it in GenerationResult.resolved) */
  steps: number;
  /** null = the model's own default (7.5 for most; 0 for distilled few-step models such as SD-Turbo) */
  cfgScale: number | null;
  /** null = the model's own default scheduler */
  scheduler: Scheduler | null;
  useLpw: boolean;
  style: Style | null;
  superResolution: boolean;
  inpaintFaces: boolean;
  hiresFix: boolean;
  faceCorrect: boolean;
  faceSwap: boolean;
  colorGrading: string | null;
  filmGrain: boolean;
  controlnet: string | null;
  controlnetConditioningScale: number | null;
  controlnetTxt2img: boolean;
  denoisingStrength: number;
  loraScale: number | null;
  inputImage: Buffer | null;
  maskImage: Buffer | null;
}

export interface GeneratedImage {
  data: Buffer;
  contentType: 'image/jpeg' | 'image/png' | 'image/webp';
  width: number;
  height: number;
}

export interface GenerationResult {
  images: GeneratedImage[];
  /** Parameters this implementation recorded but did not apply (the fast mock lists them here). */
  notes: string[];
  /** What actually ran where the request left it to the model (steps 0, no scheduler); recorded on the prompt. */
  resolved?: { steps: number; scheduler: string; cfgScale: number };
}

/** What an implementation can honour; the API rejects (422) requests that need more. */
export interface GeneratorCapabilities {
  branches: string[];
  schedulers: string[];
  controlnets: string[];
  /** for controlnet types that are not available: why, and exactly what to install (the 422 says it) */
  controlnetReasons?: Record<string, string>;
  /** prompt fields honoured when set to a non-default value (e.g. 'super_resolution', 'face_correct'). */
  features: string[];
  /** for features this installation lacks: why, and exactly what to install (the 422 says it) */
  featureReasons?: Record<string, string>;
  /** true for the mock: unsupported parameters are recorded as notes instead of rejected. */
  mock: boolean;
}

export interface Generator {
  readonly name: string;
  capabilities(): GeneratorCapabilities;
  generate(req: GenerationRequest, opts: RunOptions): Promise<GenerationResult>;
  /**
   * LoRA import: checks a whole .safetensors file (`field` names it in messages) as a LoRA this generator can
   * apply on top of base model tune `baseTuneId` (null: none named). Throws LoraRejectedError saying exactly what
   * is wrong. Absent: the branch cannot import LoRA files.
   */
  checkLora?(data: Buffer, baseTuneId: number | null, field: string): Promise<LoraFileInfo>;
}

/** What a checked LoRA file holds (recorded on the imported tune). */
export interface LoraFileInfo {
  /** kohya | diffusers | peft */
  format: string;
  /** layer count per component (unet, text_encoder) */
  layers: Record<string, number>;
  ranks: number[];
}

/** A LoRA file (or the base it names) that cannot be imported: a 422 on `field` with this message. */
export class LoraRejectedError extends Error {
  override name = 'LoraRejectedError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TrainingImage {
  data: Buffer;
  format: string;
  width: number;
  height: number;
}

export interface TrainingRequest {
  tuneId: number;
  branch: string;
  modelType: string | null;
  token: string;
  name: string;
  steps: number;
  faceCrop: boolean;
  trainingFaceCorrect: boolean;
  baseTuneId: number | null;
  images: TrainingImage[];
}

export interface TrainingResult {
  /** The trained weights (e.g. a LoRA .safetensors), or null when the tune needs none (mock, faceid). */
  weights: Buffer | null;
  notes: string[];
}

export interface TrainerCapabilities {
  branches: string[];
  modelTypes: string[];
  /** tune fields honoured when set (see TRAINER_FEATURE_FIELDS); absent = `steps` only */
  features?: string[];
  mock: boolean;
}

/** Tune create fields whose non-default value needs a matching trainer capability. */
export const TRAINER_FEATURE_FIELDS = ['steps', 'face_crop', 'training_face_correct', 'preset'] as const;

/**
 * Fields of a tune create the trainer cannot honour. `steps` left blank is never a gap (the default is derived from
 * the image count); booleans count only when true.
 */
export function trainerGaps(caps: TrainerCapabilities, input: Record<string, unknown>): string[] {
  const features = caps.features ?? ['steps'];
  return TRAINER_FEATURE_FIELDS.filter((f) => {
    const v = input[f];
    return v !== undefined && v !== null && v !== false && v !== '' && !features.includes(f);
  });
}

export interface Trainer {
  readonly name: string;
  capabilities(): TrainerCapabilities;
  train(req: TrainingRequest, opts: RunOptions): Promise<TrainingResult>;
}

/**
 * One `controlnet` type on this installation (GET /conditioning, `atelier models list`, the OpenAPI description):
 * whether prompts may use it, and if not why and exactly what to install.
 */
export interface ConditioningInfo {
  type: string;
  /** algorithm | network | ip-adapter (how the control signal is made) */
  kind: string;
  available: boolean;
  preprocessor: string;
  reason?: string;
  install?: string;
}

/** The installed implementations, looked up by branch. */
export interface Engines {
  generators: Generator[];
  trainers: Trainer[];
  /** Every conditioning type's status, read from the models directory on each call (absent: none reported). */
  conditioning?: () => Promise<ConditioningInfo[]>;
}

export function generatorFor(engines: Engines, branch: string): Generator | undefined {
  return engines.generators.find((g) => g.capabilities().branches.includes(branch));
}

export function trainerFor(engines: Engines, branch: string, modelType: string | null): Trainer | undefined {
  return engines.trainers.find((t) => {
    const c = t.capabilities();
    return c.branches.includes(branch) && c.modelTypes.includes(modelType ?? 'checkpoint');
  });
}

export function installedBranches(engines: Engines): string[] {
  return [...new Set(engines.trainers.flatMap((t) => t.capabilities().branches))];
}

/** Throws if the signal was aborted; call between steps. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted)
    throw signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
}
