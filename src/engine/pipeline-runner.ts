// Where generations run. onnxruntime-node's session.run executes on the calling JS thread (measured: no timer
// fires during an 8 s VAE decode), so running the pipelines on the main thread freezes the HTTP server and the job
// lease heartbeats for the whole of every network call. `ThreadRunner` (thread-runner.ts) runs them on a worker
// thread that owns the ModelManager; `InProcessRunner` runs them here (tests, tools, single-purpose processes).
// Post-processing runs here too, while the model lease is held: hires_fix and inpaint_faces need the prompt's
// loaded model (img2img), and ESRGAN is as blocking as the UNet.

import { statSync } from 'node:fs';
import type { EsrganVariant } from '../post/esrgan/models.ts';
import type { FaceEmbedder } from '../post/faces/embedding.ts';
import type { FaceDetectorLike } from '../post/faces/inpaint.ts';
import type { FaceRestorer } from '../post/faces/restore.ts';
import type { FaceSwapper } from '../post/faces/swap.ts';
import { engineImg2ImgRunner } from '../post/hires-fix-engine.ts';
import { type PostParams, type PostProviders, type PostStage, runPostStages } from '../post/index.ts';
import { toUint8Image } from '../post/types.ts';
import type { LoadOptions } from './load.ts';
import {
  DEFAULT_CFG_SCALE,
  type LoraRef,
  type ModelManager,
  type ModelManagerStats,
  type ModelSpec,
} from './model-manager.ts';
import { type ControlRequest, generateWithControl } from './pipeline/controlnet.ts';
import { cropCentre, imageBytes } from './pipeline/images.ts';
import { type AdapterRequest, runWithAdapter } from './pipeline/ip-adapter.ts';
import { runPipeline } from './pipeline/registry.ts';
import type { GenerateOptions, PipelineOutput } from './pipeline/types.ts';

/** Post-processing of a run: the Astria fields (seed excluded: image i uses options.seed + i). */
export type PostRequest = Omit<PostParams, 'seed'>;

/** A generation request that can cross a thread boundary (plain data and typed arrays). */
export interface RunRequest {
  spec: ModelSpec;
  loras: LoraRef[];
  /** cfgScale null: the model's default (its manifest's defaultCfgScale, else 7.5) */
  options: Omit<GenerateOptions, 'signal' | 'onProgress' | 'conditioning' | 'cfgScale'> & {
    cfgScale: number | null;
  };
  /** ControlNet conditioning (generateWithControl instead of the task's plain pipeline) */
  control?: ControlRequest;
  /** IP-Adapter / FaceID conditioning (generateWithAdapter instead of the task's plain pipeline) */
  adapter?: AdapterRequest;
  /** centre-crop the decoded images to this size before post-processing (canvas larger than the request) */
  crop?: { width: number; height: number };
  /** post stages to run on every image after decoding */
  post?: PostRequest;
  /** `<dataDir>/models`: where the face stages find operator-installed networks (faces/restore.onnx, ...) */
  modelsDir?: string;
  /**
   * face_swap's identity: the tune's cached one, or its training images (encoded) to compute it from; `key`
   * names the embedding network it is valid for (faces/swap.ts embedderKey).
   */
  faceSwapSource?: { key: string; identity: Float32Array } | { key: string; images: Uint8Array[] };
}

export interface RunResult {
  /** 8-bit interleaved RGB per image, width x height */
  rgb: Uint8Array[];
  width: number;
  height: number;
  /** true when the model (and LoRA set) was already loaded */
  reused: boolean;
  /** what actually ran: steps (0 resolved to the model's default), the sampler and the guidance scale */
  resolved: { steps: number; sampler: string; cfgScale: number };
  /** face_swap's identity when this run computed it from training images (the caller caches it) */
  faceIdentity?: { key: string; identity: Float32Array };
}

/** Pipeline phases, plus `loading` and one phase per post stage (super_resolution, hires_fix, ...). */
export interface RunProgress {
  phase: string;
  /** 1-based */
  step: number;
  total: number;
}

export interface PipelineRunner {
  run(req: RunRequest, signal: AbortSignal, onProgress: (p: RunProgress) => void): Promise<RunResult>;
  stats(): Promise<ModelManagerStats>;
  close(): Promise<void>;
}

/** ESRGAN variant of the super_resolution stage: $ATELIER_SR_MODEL (thick | medium | slim), default thick. */
export function srVariantFromEnv(env: NodeJS.ProcessEnv = process.env): EsrganVariant {
  const v = env.ATELIER_SR_MODEL?.trim() || 'thick';
  if (v !== 'thick' && v !== 'medium' && v !== 'slim')
    throw new Error(`ATELIER_SR_MODEL must be thick, medium or slim, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * What post-processing keeps between prompts in one runner: the ESRGAN network (loaded on first use) and the
 * face detector. Disposed with the runner.
 */
export class PostResources {
  private sr?: PostStage & { dispose(): Promise<void> };
  private faces?: Promise<FaceDetectorLike>;
  private restorers: OpenedNets<FaceRestorer> = new Map();
  private swappers: OpenedNets<FaceSwapper> = new Map();
  private embedders: OpenedNets<FaceEmbedder> = new Map();

  constructor(private readonly opts: { cacheDir?: string; srVariant?: EsrganVariant } = {}) {}

  async superResolution(): Promise<PostStage> {
    if (!this.sr) {
      const { createSuperResolutionStage } = await import('../post/index.ts');
      this.sr ??= await createSuperResolutionStage({
        variant: this.opts.srVariant ?? srVariantFromEnv(),
        cacheDir: this.opts.cacheDir,
      });
    }
    return this.sr;
  }

  faceDetector(): Promise<FaceDetectorLike> {
    this.faces ??= import('../post/faces/detector.ts').then((m) => m.sharedFaceDetector());
    return this.faces;
  }

  /** The restoration network installed under `modelsDir`, or undefined when there is none. */
  async faceRestorer(modelsDir: string | undefined): Promise<FaceRestorer | undefined> {
    const m = await import('../post/faces/restore.ts');
    if (!modelsDir || !m.isFaceRestoreInstalled(modelsDir)) return undefined;
    return opened(this.restorers, m.restoreModelPath(modelsDir), () => m.openFaceRestorer(modelsDir));
  }

  /** The swap network under `modelsDir`; throws naming what to install when it is missing. */
  async faceSwapper(modelsDir: string): Promise<FaceSwapper> {
    const m = await import('../post/faces/swap.ts');
    return opened(this.swappers, m.swapModelPath(modelsDir), () => m.openFaceSwapper(modelsDir));
  }

  /** The face embedding network under `modelsDir`; throws naming what to install when it is missing. */
  async faceEmbedder(modelsDir: string): Promise<FaceEmbedder> {
    const m = await import('../post/faces/embedding.ts');
    // its default detector is the shared one faceDetector() returns
    return opened(this.embedders, m.arcfacePath(modelsDir), () => m.openFaceEmbedder(modelsDir));
  }

  async dispose(): Promise<void> {
    const sr = this.sr;
    this.sr = undefined;
    await sr?.dispose();
    for (const m of [this.restorers, this.swappers, this.embedders]) {
      const open = [...m.values()];
      m.clear();
      for (const r of open) await r.net.then((x) => x.dispose()).catch(() => undefined);
    }
  }
}

/** Operator networks by file, with the file's size and mtime when opened. */
type OpenedNets<T> = Map<string, { stamp: string; net: Promise<T> }>;

/**
 * The network in `file`, opened on first use and kept; reopened when the file was replaced (size or mtime
 * changed: the old session is disposed), so an operator can swap weights without a restart. A failed open is
 * forgotten, so the next prompt retries.
 */
function opened<T extends { dispose(): Promise<void> }>(
  cache: OpenedNets<T>,
  file: string,
  open: () => Promise<T>,
): Promise<T> {
  let stamp = 'missing';
  try {
    const st = statSync(file);
    stamp = `${st.size}:${st.mtimeMs}`;
  } catch {
    // open() says what to install
  }
  const hit = cache.get(file);
  if (hit && hit.stamp === stamp) return hit.net;
  hit?.net.then((x) => x.dispose()).catch(() => undefined);
  const net = open();
  cache.set(file, { stamp, net });
  net.catch(() => {
    if (cache.get(file)?.net === net) cache.delete(file);
  });
  return net;
}

/** The tune's identity for face_swap: the cached one, or the mean over its training images' largest faces. */
async function faceSwapIdentity(
  resources: PostResources,
  modelsDir: string,
  source: NonNullable<RunRequest['faceSwapSource']>,
): Promise<{ identity: Float32Array; computed: boolean }> {
  if ('identity' in source) return { identity: source.identity, computed: false };
  const { meanIdentity } = await import('../post/faces/swap.ts');
  const embedder = await resources.faceEmbedder(modelsDir);
  const found: Float32Array[] = [];
  for (const img of source.images) {
    const face = await embedder.embedLargest(Buffer.from(img.buffer, img.byteOffset, img.byteLength));
    if (face) found.push(face.embedding);
  }
  if (!found.length)
    throw new Error(
      `face_swap: no face was found in any of the tune's ${source.images.length} training images`,
    );
  return { identity: meanIdentity(found), computed: true };
}

/** How the runner opens what the ModelManager does not hold (ONNX annotators; the post networks' graph cache). */
export type RunLoadOptions = Pick<LoadOptions, 'session'> & { cacheDir?: string };

export interface RunContext {
  load?: RunLoadOptions;
  post?: PostResources;
}

/**
 * Acquire the model, run the task's pipeline (or the controlled one), crop, run the post stages on each image
 * (image i with seed + i, as its noise), return 8-bit images; the lease is released whatever happens.
 */
export async function runOnModels(
  models: ModelManager,
  req: RunRequest,
  signal: AbortSignal,
  onProgress: (p: RunProgress) => void,
  ctx: RunContext = {},
): Promise<RunResult> {
  const { control, adapter } = req;
  const controlled = control && (await models.acquireControlled(req.spec, req.loras, control));
  const adapted = !controlled && adapter && (await models.acquireAdapted(req.spec, req.loras, adapter));
  const lease = controlled || adapted || (await models.acquire(req.spec, req.loras));
  try {
    signal.throwIfAborted();
    const cfgScale = req.options.cfgScale ?? lease.model.defaultCfgScale ?? DEFAULT_CFG_SCALE;
    req = { ...req, options: { ...req.options, cfgScale } }; // the post stages' img2img passes guide alike
    const opts = { ...req.options, cfgScale, signal, onProgress };
    const out: PipelineOutput =
      control && controlled
        ? await generateWithControl(controlled.model, control, opts, { session: ctx.load?.session })
        : adapter && adapted
          ? await runWithAdapter(adapted.model, adapted.model.adapter, adapter, opts)
          : await runPipeline(lease.model, opts);
    const { width: fullW, height: fullH } = req.options;
    const crop = req.crop ?? { width: fullW, height: fullH };
    let rgb = Array.from({ length: req.options.numImages }, (_, i) =>
      cropCentre(imageBytes(out.images, i), fullW, fullH, crop.width, crop.height),
    );
    let size = { ...crop };
    let faceIdentity: RunResult['faceIdentity'];
    if (req.post) {
      const post = await postProcess(lease.model, req, rgb, crop, signal, onProgress, ctx.post);
      rgb = post.rgb;
      size = post.size;
      faceIdentity = post.faceIdentity;
    }
    const resolved = { steps: out.steps, sampler: out.sampler, cfgScale };
    return { rgb, ...size, reused: lease.reused, resolved, ...(faceIdentity ? { faceIdentity } : {}) };
  } finally {
    lease.release();
  }
}

/** True when any post stage is asked for (the API has already rejected what cannot run). */
export function wantsPost(p: PostRequest): boolean {
  return !!(
    p.super_resolution ||
    p.hires_fix ||
    p.inpaint_faces ||
    p.face_correct ||
    p.face_swap ||
    (p.color_grading != null && p.color_grading !== '') ||
    p.film_grain
  );
}

async function postProcess(
  model: Parameters<typeof engineImg2ImgRunner>[0],
  req: RunRequest,
  rgb: Uint8Array[],
  size: { width: number; height: number },
  signal: AbortSignal,
  onProgress: (p: RunProgress) => void,
  resources: PostResources = new PostResources(),
): Promise<{
  rgb: Uint8Array[];
  size: { width: number; height: number };
  faceIdentity?: RunResult['faceIdentity'];
}> {
  const p = req.post as PostRequest;
  const o = req.options;
  const providers: PostProviders = {};
  if (p.super_resolution) providers.superResolution = await resources.superResolution();
  if (p.face_correct) providers.faceRestorer = await resources.faceRestorer(req.modelsDir);
  // face_correct falls back to a low-strength img2img of the faces when no restoration network is installed
  if (p.hires_fix || p.inpaint_faces || (p.face_correct && !providers.faceRestorer))
    providers.img2img = engineImg2ImgRunner(model, {
      text: o.text,
      negativePrompt: o.negativePrompt,
      steps: o.steps,
      cfgScale: o.cfgScale ?? DEFAULT_CFG_SCALE, // resolved by runOnModels before the post stages
      sampler: o.sampler,
      useLpw: o.useLpw,
    });
  if (p.inpaint_faces || p.face_correct || p.face_swap)
    providers.faceDetector = await resources.faceDetector();
  let faceIdentity: RunResult['faceIdentity'];
  if (p.face_swap && providers.faceDetector) {
    const { faceSwapMissing, faceSwapStage } = await import('../post/faces/swap.ts');
    const missing = faceSwapMissing(req.modelsDir);
    if (missing || !req.modelsDir) throw new Error(missing ?? 'face_swap needs the models dir');
    if (!req.faceSwapSource) throw new Error("face_swap needs the tune's identity or training images");
    onProgress({ phase: 'face_swap', step: 1, total: 1 });
    const { identity, computed } = await faceSwapIdentity(resources, req.modelsDir, req.faceSwapSource);
    if (computed) faceIdentity = { key: req.faceSwapSource.key, identity };
    const swapper = await resources.faceSwapper(req.modelsDir);
    providers.faceSwap = faceSwapStage(providers.faceDetector, swapper, identity);
  }
  const out: Uint8Array[] = [];
  let outSize = size;
  for (const [i, data] of rgb.entries()) {
    signal.throwIfAborted();
    const img = await runPostStages(
      { data, width: size.width, height: size.height, channels: 3 },
      { ...p, seed: o.seed + i },
      {
        providers,
        signal,
        onProgress: (e) =>
          onProgress({ phase: e.stage, step: Math.max(1, e.done), total: Math.max(1, e.total) }),
      },
    );
    const bytes = toUint8Image(img);
    if (bytes.channels !== 3) throw new Error(`post-processing returned ${bytes.channels} channels`);
    out.push(bytes.data as Uint8Array);
    outSize = { width: bytes.width, height: bytes.height };
  }
  return { rgb: out, size: outSize, faceIdentity };
}

export class InProcessRunner implements PipelineRunner {
  private readonly post: PostResources;
  constructor(
    readonly models: ModelManager,
    private readonly load: RunLoadOptions = {},
  ) {
    this.post = new PostResources({ cacheDir: load.cacheDir });
  }
  run(req: RunRequest, signal: AbortSignal, onProgress: (p: RunProgress) => void): Promise<RunResult> {
    return runOnModels(this.models, req, signal, onProgress, { load: this.load, post: this.post });
  }
  async stats(): Promise<ModelManagerStats> {
    return this.models.stats();
  }
  async close(): Promise<void> {
    await this.post.dispose();
    await this.models.close();
  }
}
