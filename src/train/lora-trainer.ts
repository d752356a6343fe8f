// The built-in LoRA trainer (branch sd15, model_type lora): 4–20 photos in, a kohya-format LoRA out.
//
// Per optimiser step: for each of `gradientAccumulation` micro-batches, take the next image of a seeded
// shuffle, sample its latent from the VAE posterior, draw t ~ U{0..T−1} and ε ~ N(0, I), form
// x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε (DDPM forward process, Ho et al. 2020 eq. 4) and regress ε (or
// v = √ᾱ_t·ε − √(1−ᾱ_t)·x0 for v-prediction models, Salimans & Ho 2022 sec. 4); the training graph returns
// the loss and the LoRA gradients in one onnxruntime run. Gradients are averaged, clipped to a global norm,
// and AdamW updates the LoRA matrices at the scheduled learning rate. Every `checkpointEvery` steps the
// LoRA + optimiser state is saved to the work dir; a restarted worker resumes from it.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ProgressEvent,
  RunOptions,
  Trainer,
  TrainerCapabilities,
  TrainingRequest,
  TrainingResult,
} from '../domain/ports.ts';
import { throwIfAborted } from '../domain/ports.ts';
import { openCheckpoint } from '../engine/checkpoint/open.ts';
import type { TensorSource } from '../engine/checkpoint/tensor-source.ts';
import type { Tensor } from '../engine/components.ts';
import { defaultCacheDir, loadParts } from '../engine/load.ts';
import { type ModelSpec, readSchedulerConfig, readTokenizer } from '../engine/model-manager.ts';
import { detectUnetConfig, type UnetConfig, unetConfigFromJson } from '../engine/models/unet.ts';
import type { SessionSettings } from '../engine/ort.ts';
import { TorchGenerator } from '../engine/rng/torch-generator.ts';
import type { SchedulerConfig } from '../engine/schedulers/config.ts';
import { alphasCumprodFor } from '../engine/schedulers/noise-schedule.ts';
import { ADAMW_DEFAULTS, AdamW, clipGradNorm } from './adamw.ts';
import {
  detectFaceBoxes,
  type FaceBox,
  installedFaceDetector,
  type PreparedImage,
  prepareDataset,
} from './dataset.ts';
import { initLoraParams, type LoraParams, readLoraParams, writeKohyaLora } from './lora-file.ts';
import { type LrScheduleKind, learningRate } from './lr-schedule.ts';
import { loadTrainState, saveTrainState, type TrainState } from './train-state.ts';
import { LoraTrainingSession } from './training-session.ts';

export interface LoraTrainerOptions {
  /** the base model (diffusers folder or single-file checkpoint, plus a tokenizer folder if it has none) */
  baseModel: ModelSpec;
  /**
   * the base model of a request that names one (`base_tune_id`), e.g. from models-dir's findByTune; when it
   * returns undefined (or is absent) `baseModel` is used
   */
  resolveBaseModel?: (baseTuneId: number) => ModelSpec | undefined;
  /** checkpoints and outputs go to <workDir>/tune-<id>/ */
  workDir: string;
  /** compiled-graph cache (default: the engine's) */
  cacheDir?: string;
  rank?: number;
  alpha?: number;
  includeFeedForward?: boolean;
  learningRate?: number;
  schedule?: LrScheduleKind;
  /** warmup as a fraction of the steps */
  warmupFraction?: number;
  gradientAccumulation?: number;
  maxGradNorm?: number;
  weightDecay?: number;
  /** steps when the request says 0: stepsPerImage × images, at most maxDefaultSteps */
  stepsPerImage?: number;
  maxDefaultSteps?: number;
  checkpointEvery?: number;
  seed?: number;
  /** training resolution (default: the UNet's sample_size × 8, e.g. 512) */
  resolution?: number;
  /** aspect-ratio buckets (default true) */
  buckets?: boolean;
  /** face boxes per image for face_crop (see dataset.ts); default: the installed face detector's */
  faceBoxes?: (req: TrainingRequest) => Promise<(FaceBox | null)[]> | (FaceBox | null)[];
  session?: SessionSettings;
  /**
   * keep the compiled training sessions open between train() calls (a worker training many tunes on one
   * base model skips the session start, ~15 s for the SD 1.5 graph; costs the UNet's memory between jobs);
   * release them with dispose()
   */
  keepSessions?: boolean;
}

/** What onProgress receives: the port's event plus the loss and an ETA. */
export type TrainingProgress = ProgressEvent & { loss: number; etaSeconds: number };

export const LORA_TRAINER_DEFAULTS = {
  rank: 16,
  alpha: 8,
  learningRate: 1e-4,
  schedule: 'constant_with_warmup' as LrScheduleKind,
  warmupFraction: 0.05,
  gradientAccumulation: 1,
  maxGradNorm: 1,
  stepsPerImage: 100,
  maxDefaultSteps: 1500,
  checkpointEvery: 50,
  seed: 1234,
};

interface EncodedImage {
  mean: Float32Array;
  std: Float32Array;
  /** latent dims [1, 4, h, w] */
  dims: number[];
  bucket: string;
}

interface BaseModel {
  spec: ModelSpec;
  source: TensorSource;
  unet: UnetConfig;
  scheduler: SchedulerConfig;
  alphasCumprod: Float32Array;
  /** latent size the model was trained at (config sample_size; 64 for SD 1.5) */
  sampleSize: number;
  identity: string;
  close(): void;
}

export class LoraTrainer implements Trainer {
  readonly name = 'lora (built-in, onnxruntime)';
  private readonly o: Required<
    Omit<
      LoraTrainerOptions,
      'cacheDir' | 'resolution' | 'faceBoxes' | 'session' | 'keepSessions' | 'resolveBaseModel'
    >
  > &
    LoraTrainerOptions;
  /** open sessions by bucket shape, kept across calls when keepSessions is set */
  private readonly kept = new Map<string, LoraTrainingSession>();

  constructor(options: LoraTrainerOptions) {
    this.o = {
      ...LORA_TRAINER_DEFAULTS,
      includeFeedForward: false,
      weightDecay: ADAMW_DEFAULTS.weightDecay,
      buckets: true,
      ...options,
    };
  }

  capabilities(): TrainerCapabilities {
    // face_crop: crops around the detected face (dataset.ts), the attention crop where none is found.
    return { branches: ['sd15'], modelTypes: ['lora'], features: ['steps', 'face_crop'], mock: false };
  }

  /** steps for a request: its own when given, else stepsPerImage × images, capped */
  stepsFor(req: Pick<TrainingRequest, 'steps' | 'images'>): number {
    if (req.steps > 0) return req.steps;
    return Math.min(this.o.maxDefaultSteps, this.o.stepsPerImage * req.images.length);
  }

  async train(req: TrainingRequest, opts: RunOptions): Promise<TrainingResult> {
    const o = this.o;
    const steps = this.stepsFor(req);
    const { base, images, latents, context, sessionFor, close } = await this.prepare(req, opts.signal);
    try {
      const first = await sessionFor(latents[0]);

      const dir = join(o.workDir, `tune-${req.tuneId}`);
      mkdirSync(dir, { recursive: true });
      const fingerprint = this.fingerprint(req, steps, base.identity);
      const state: TrainState = loadTrainState(dir, fingerprint) ?? {
        step: 0,
        params: initLoraParams(first.loras, o.seed),
        optimizer: new AdamW({ ...ADAMW_DEFAULTS, weightDecay: o.weightDecay }),
        fingerprint,
        lastLoss: Number.NaN,
      };
      const resumedAt = state.step;
      const schedule = {
        kind: o.schedule,
        baseLr: o.learningRate,
        warmupSteps: Math.round(steps * o.warmupFraction),
        totalSteps: steps,
      };
      const started = performance.now();
      while (state.step < steps) {
        throwIfAborted(opts.signal);
        const step = state.step + 1;
        let sum: LoraParams | undefined;
        let lossSum = 0;
        for (let micro = 0; micro < o.gradientAccumulation; micro++) {
          const index = imageFor(o.seed, (step - 1) * o.gradientAccumulation + micro, latents.length);
          const img = latents[index];
          const batch = sampleTrainingBatch(img, context, base, drawSeed(o.seed, step, micro));
          const r = await (await sessionFor(img)).run(batch, state.params);
          lossSum += r.loss;
          if (!sum) sum = new Map([...r.grads].map(([k, v]) => [k, Float32Array.from(v)]));
          else for (const [k, v] of r.grads) addInto(sum.get(k) as Float32Array, v);
        }
        const grads = sum as LoraParams;
        if (o.gradientAccumulation > 1)
          for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] /= o.gradientAccumulation;
        if (o.maxGradNorm > 0) clipGradNorm(grads, o.maxGradNorm);
        state.optimizer.update(state.params, grads, learningRate(schedule, step));
        state.step = step;
        state.lastLoss = lossSum / o.gradientAccumulation;
        if (step % o.checkpointEvery === 0 && step < steps) saveTrainState(dir, state);
        const perStep = (performance.now() - started) / 1000 / (step - resumedAt);
        const progress: TrainingProgress = {
          phase: 'training',
          step,
          total: steps,
          loss: state.lastLoss,
          etaSeconds: perStep * (steps - step),
        };
        opts.onProgress?.(progress);
      }
      saveTrainState(dir, state);
      const out = join(dir, 'lora.safetensors');
      writeKohyaLora(out, first.loras, state.params, {
        ss_output_name: `tune-${req.tuneId}`,
        ss_steps: String(steps),
        atelier_caption: images[0].caption,
        atelier_base_model: base.spec.key,
      });
      const ignored = req.trainingFaceCorrect ? ['training_face_correct is not applied by this trainer'] : [];
      return {
        weights: readFileSync(out),
        notes: [
          ...ignored,
          `LoRA rank ${o.rank} alpha ${o.alpha} on ${first.loras.length} linear layers, ${steps} steps` +
            `${resumedAt ? ` (resumed at step ${resumedAt})` : ''}, ${images.length} images, final loss ${state.lastLoss.toFixed(4)}`,
        ],
      };
    } finally {
      await close();
    }
  }

  /**
   * Mean denoising loss over the request's images with a LoRA file applied (none: the base model), on fixed
   * draws: for each image, `timesteps` evenly spread over the schedule, noise from a fixed seed.
   */
  async denoisingLoss(req: TrainingRequest, loraPath?: string, timesteps = 5): Promise<number> {
    const { base, latents, context, sessionFor, close } = await this.prepare(req);
    try {
      const session = await sessionFor(latents[0]);
      // without a file: the initial LoRA, whose up matrices are zero, i.e. exactly the base model
      const params = loraPath ? readLoraParams(loraPath) : initLoraParams(session.loras, 0);
      let sum = 0;
      let count = 0;
      const T = base.alphasCumprod.length;
      for (let i = 0; i < latents.length; i++) {
        for (let k = 0; k < timesteps; k++) {
          const t = Math.floor(((k + 0.5) * T) / timesteps);
          const batch = sampleTrainingBatch(latents[i], context, base, drawSeed(-1, i, k), t);
          sum += (await (await sessionFor(latents[i])).run(batch, params)).loss;
          count++;
        }
      }
      return sum / count;
    } finally {
      await close();
    }
  }

  /** dataset, VAE latents, text states and lazily opened training sessions (one per bucket shape) */
  private async prepare(req: TrainingRequest, signal?: AbortSignal) {
    const o = this.o;
    const spec = (req.baseTuneId !== null ? o.resolveBaseModel?.(req.baseTuneId) : undefined) ?? o.baseModel;
    const base = openBaseModel(spec);
    const sessions = o.keepSessions ? this.kept : new Map<string, LoraTrainingSession>();
    const close = async () => {
      if (!o.keepSessions) for (const s of sessions.values()) await s.dispose();
      base.close();
    };
    try {
      const faceBoxes = req.faceCrop
        ? await (o.faceBoxes ? o.faceBoxes(req) : detectFaceBoxes(req.images, installedFaceDetector))
        : undefined;
      const images = await prepareDataset(req.images, {
        resolution: o.resolution ?? base.sampleSize * 8,
        token: req.token,
        name: req.name,
        faceCrop: req.faceCrop,
        faceBoxes,
        squareOnly: !o.buckets,
      });
      if (signal) throwIfAborted(signal);
      const { latents, context } = await this.encode(spec, images);
      if (signal) throwIfAborted(signal);
      const lora = { rank: o.rank, alpha: o.alpha, includeFeedForward: o.includeFeedForward };
      const sessionFor = async (img: EncodedImage) => {
        const key = `${spec.key}|${img.bucket}`;
        let s = sessions.get(key);
        if (!s) {
          s = await LoraTrainingSession.open({
            cacheDir: o.cacheDir ?? defaultCacheDir(),
            source: base.source,
            config: base.unet,
            lora,
            shape: { batch: 1, height: img.dims[2], width: img.dims[3], tokens: context.dims[1] },
            session: o.session,
          });
          sessions.set(key, s);
        }
        return s;
      };
      return { base, images, latents, context, sessionFor, close };
    } catch (e) {
      await close();
      throw e;
    }
  }

  /** releases sessions kept by keepSessions */
  async dispose(): Promise<void> {
    for (const s of this.kept.values()) await s.dispose();
    this.kept.clear();
  }

  private fingerprint(req: TrainingRequest, steps: number, modelIdentity: string): string {
    const h = createHash('sha256');
    for (const img of req.images) h.update(createHash('sha256').update(img.data).digest());
    const {
      faceBoxes: _f,
      session: _s,
      workDir: _w,
      cacheDir: _c,
      keepSessions: _k,
      resolveBaseModel: _r,
      baseModel: _b,
      ...settings
    } = this.o;
    h.update(JSON.stringify({ settings, steps, token: req.token, name: req.name, faceCrop: req.faceCrop }));
    h.update(modelIdentity);
    return h.digest('hex');
  }

  /** VAE posteriors of every image and the caption's text states (all images share one caption). */
  private async encode(
    spec: ModelSpec,
    images: PreparedImage[],
  ): Promise<{ latents: EncodedImage[]; context: Tensor }> {
    const parts = await loadParts(spec.path, {
      cacheDir: this.o.cacheDir ?? defaultCacheDir(),
      components: ['text_encoder', 'vae'],
      session: this.o.session,
    });
    try {
      const { clip, vae } = parts;
      if (!clip || !vae) throw new Error(`${spec.key}: the base model needs a text encoder and a VAE`);
      const tokenizer = readTokenizer(spec);
      const context = await clip.encode(tokenizer.encode(images[0].caption).inputIds);
      const latents: EncodedImage[] = [];
      for (const img of images) {
        const dist = await vae.encode({ data: img.pixels, dims: [1, 3, img.height, img.width] });
        const k = vae.config.scalingFactor;
        latents.push({
          mean: dist.mean.data.map((v) => Math.fround(v * k)),
          std: dist.logvar.data.map((lv) => Math.fround(Math.exp(0.5 * Math.min(Math.max(lv, -30), 20)) * k)),
          dims: dist.mean.dims,
          bucket: `${img.width}x${img.height}`,
        });
      }
      return { latents, context };
    } finally {
      await parts.dispose();
    }
  }
}

function openBaseModel(spec: ModelSpec): BaseModel {
  const ck = openCheckpoint(spec.path);
  const un = ck.unet;
  if (!un) {
    ck.close();
    throw new Error(`${spec.key}: no UNet in ${spec.path}`);
  }
  const unet = un.configJson ? unetConfigFromJson(un.configJson) : detectUnetConfig(un.source);
  let scheduler: SchedulerConfig;
  try {
    scheduler = readSchedulerConfig(ck.layout === 'diffusers' ? spec.path : '');
  } catch (e) {
    ck.close();
    throw e;
  }
  return {
    spec,
    source: un.source,
    unet,
    scheduler,
    alphasCumprod: alphasCumprodFor(scheduler),
    sampleSize: Number(un.configJson?.sample_size ?? 64),
    identity: un.source.identity(),
    close: () => ck.close(),
  };
}

function addInto(acc: Float32Array, v: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += v[i];
}

/** seed of the random draws of micro-batch `micro` of step `step` (independent of any earlier draw) */
export function drawSeed(seed: number, step: number, micro: number): bigint {
  const h = createHash('sha256').update(`${seed}/${step}/${micro}`).digest();
  return h.readBigUInt64LE(0) & 0xffffffffffffn;
}

/** which image draw number `k` uses: epochs are seeded permutations of the images */
export function imageFor(seed: number, k: number, count: number): number {
  const epoch = Math.floor(k / count);
  const gen = new TorchGenerator(drawSeed(seed, -1, epoch));
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = gen.nextUint32() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order[k % count];
}

/**
 * One training example: latent x0 ~ posterior, t ~ U{0..T−1}, ε ~ N(0, I), x_t and the target. With the
 * same seed it gives the same batch (used by resume and by evaluation).
 */
export function sampleTrainingBatch(
  img: { mean: Float32Array; std: Float32Array; dims: number[] },
  context: Tensor,
  base: { alphasCumprod: Float32Array; scheduler: SchedulerConfig },
  seed: bigint,
  fixedTimestep?: number,
) {
  const gen = new TorchGenerator(seed);
  const T = base.alphasCumprod.length;
  const t = fixedTimestep ?? Math.min(T - 1, Math.floor(gen.nextUnitFloat() * T));
  const eps0 = gen.randn(img.dims);
  const noise = gen.randn(img.dims);
  const a = base.alphasCumprod[t];
  const sa = Math.fround(Math.sqrt(a));
  const s1 = Math.fround(Math.sqrt(1 - a));
  const n = noise.length;
  const x0 = new Float32Array(n);
  const sample = new Float32Array(n);
  const target = new Float32Array(n);
  const v = base.scheduler.predictionType === 'v_prediction';
  for (let i = 0; i < n; i++) {
    x0[i] = img.mean[i] + img.std[i] * eps0[i];
    sample[i] = sa * x0[i] + s1 * noise[i];
    target[i] = v ? sa * noise[i] - s1 * x0[i] : noise[i];
  }
  return {
    sample: { data: sample, dims: img.dims },
    timesteps: Float32Array.of(t),
    encoderHiddenStates: context,
    target: { data: target, dims: img.dims },
  };
}
