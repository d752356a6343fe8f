// Image-prompt adapters (IP-Adapter, Ye et al. 2023; FaceID) on a loaded base model. Ref: diffusers 0.27
// StableDiffusionPipeline with load_ip_adapter (prepare_ip_adapter_image_embeds, IPAdapterAttnProcessor) and
// tencent-ailab/IP-Adapter ip_adapter.py (IPAdapter, IPAdapterPlus, IPAdapterFaceID get_image_embeds).
//
// The adapter's image tokens are computed once per generation: the input image through the CLIP vision encoder
// (pooled image_embeds for `linear` adapters, hidden_states[-2] for the Plus resampler), or the stored face
// embedding for FaceID, then the adapter's projection. The unconditional tokens are the projection of zeros
// (image_embeds / face embedding) or of the encoder's output on an all-zero pixel_values (Plus), as both
// references do. The UNet is compiled again with decoupled cross-attention (models/unet.ts `ipAdapter`) over
// the base UNet's and the adapter's tensors, FaceID's LoRA merged into it, and runs the ordinary txt2img /
// img2img pipelines: `IpAdapterUnet` feeds `[uncond tokens x B, cond tokens x B]` beside the CFG batch.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoraLayer, LoraWeights, ScaledLora } from '../checkpoint/lora.ts';
import { openCheckpoint } from '../checkpoint/open.ts';
import { SafetensorsFile } from '../checkpoint/safetensors.ts';
import { sourceFromFile, type TensorSource, UnionTensorSource } from '../checkpoint/tensor-source.ts';
import { type Tensor, Unet } from '../components.ts';
import { compileCached } from '../graph/cache.ts';
import { defaultCacheDir } from '../load.ts';
import { type LoraSetIdentity, mergedGraph } from '../lora-graphs.ts';
import {
  buildClipVisionGraph,
  buildIpProjectionGraph,
  type ClipVisionConfig,
  clipPixelValues,
  clipVisionConfigFromJson,
  detectClipVisionConfig,
  detectIpAdapterConfig,
  type IpAdapterConfig,
  ipAdapterLayerMap,
  unetAttentionOrder,
} from '../models/ip-adapter.ts';
import { buildUnetGraph, type UnetConfig } from '../models/unet.ts';
import { OrtSession, type SessionSettings } from '../ort.ts';
import { runPipeline } from './registry.ts';
import type { GenerateOptions, PipelineOutput, SdModel } from './types.ts';

/** The adapter weight when the prompt leaves controlnet_conditioning_scale blank (diffusers' scale 1.0). */
export const DEFAULT_IP_ADAPTER_SCALE = 1;

/** What an adapter generation needs beyond GenerateOptions; plain data (can cross a worker boundary). */
export interface AdapterRequest {
  /** the Astria controlnet type, or `faceid` for a FaceID tune */
  type: 'ipadapter' | 'reference' | 'composition' | 'faceid';
  /** the adapter .safetensors */
  adapterPath: string;
  /** the CLIPVisionModelWithProjection folder (not used by FaceID) */
  imageEncoderDir?: string;
  /** FaceID: the identity embedding(s), L2-normalised, each of the adapter's embedding width */
  faceEmbeddings?: Float32Array[];
  /** adapter scale (controlnet_conditioning_scale, or the `<faceid:ID:w>` weight); undefined = 1 */
  scale?: number;
  /** controlnet_txt2img: true starts from noise, false runs img2img from the input image (image adapters) */
  txt2img: boolean;
}

interface Load {
  cacheDir?: string;
  session?: SessionSettings;
}

/** A UNet built with `ipAdapter` that feeds its image tokens beside every call (CFG batch aware). */
export class IpAdapterUnet extends Unet {
  constructor(
    config: UnetConfig,
    session: OrtSession,
    private readonly tokens: { cond: Tensor; uncond: Tensor },
    private readonly numImages: number,
    private readonly scale: number,
  ) {
    super(config, session);
  }

  /** batch = numImages (no CFG): cond tokens per image; 2 x numImages: [uncond x B, cond x B] (guidance.ts). */
  protected override extraFeeds(batch: number) {
    const { cond, uncond } = this.tokens;
    const [, n, w] = cond.dims;
    const per = n * w;
    const B = this.numImages;
    if (batch !== B && batch !== 2 * B)
      throw new Error(`IP-Adapter UNet: batch ${batch} is neither ${B} nor ${2 * B} (CFG) images`);
    const data = new Float32Array(batch * per);
    for (let i = 0; i < batch; i++) data.set(batch === 2 * B && i < B ? uncond.data : cond.data, i * per);
    return {
      ip_tokens: { data, dims: [batch, n, w] },
      ip_scale: { data: Float32Array.of(this.scale), dims: [1] },
    };
  }
}

/** The adapter .safetensors: its config and tensors. Pickled .bin files are refused by name. */
export function openAdapter(path: string): {
  file: SafetensorsFile;
  source: TensorSource;
  config: IpAdapterConfig;
} {
  if (!path.endsWith('.safetensors'))
    throw new Error(`${path}: IP-Adapter weights must be .safetensors (pickled .bin files are never loaded)`);
  const file = SafetensorsFile.open(path);
  try {
    const source = sourceFromFile(file);
    return { file, source, config: detectIpAdapterConfig(source) };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** FaceID's LoRA (`ip_adapter.<n>.to_{q,k,v,out}_lora.{down,up}.weight`) as LoRA layers on the UNet's attention weights. */
export function faceIdLora(source: TensorSource, unet: UnetConfig): LoraWeights {
  const order = unetAttentionOrder(unet);
  const layers: LoraLayer[] = [];
  for (const name of source.names()) {
    const m = /^ip_adapter\.(\d+)\.to_(q|k|v|out)_lora\.down\.weight$/.exec(name);
    if (!m) continue;
    const attn = order[Number(m[1])];
    if (!attn) throw new Error(`FaceID LoRA layer ${m[1]} does not exist in this UNet`);
    const up = name.replace('.down.weight', '.up.weight');
    const [rank] = source.shape(name);
    layers.push({
      component: 'unet',
      target: `${attn}.${m[2] === 'out' ? 'to_out.0' : `to_${m[2]}`}.weight`,
      down: source.read(name),
      up: source.read(up),
      rank,
      alpha: null, // LoRALinearLayer without network_alpha: up @ down as is
    });
  }
  return { format: 'diffusers', layers };
}

/** The CLIP vision encoder folder (diffusers CLIPVisionModelWithProjection): config and weights file. */
export function imageEncoderFiles(dir: string): { weights: string; config?: ClipVisionConfig } {
  if (!existsSync(dir)) throw new Error(`image encoder folder ${dir} does not exist`);
  const names = readdirSync(dir).filter((n) => n.endsWith('.safetensors'));
  const weights = names.includes('model.safetensors')
    ? 'model.safetensors'
    : names.length === 1
      ? names[0]
      : undefined;
  if (!weights)
    throw new Error(
      `${dir}: expected model.safetensors (diffusers CLIPVisionModelWithProjection), found ${names.join(', ') || 'none'}`,
    );
  const cfgPath = join(dir, 'config.json');
  const config = existsSync(cfgPath)
    ? clipVisionConfigFromJson(JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>)
    : undefined;
  return { weights: join(dir, weights), config };
}

/** The CLIP image encoder graph (cached) and its config. */
function imageEncoderGraph(dir: string, load: Load): { modelPath: string; config: ClipVisionConfig } {
  const files = imageEncoderFiles(dir);
  const file = SafetensorsFile.open(files.weights);
  try {
    const src = sourceFromFile(file);
    const config = files.config ?? detectClipVisionConfig(src);
    const compiled = compileCached({
      cacheDir: load.cacheDir ?? defaultCacheDir(),
      component: 'clip-vision',
      identity: src.identity(),
      options: { cfg: config },
      build: () => buildClipVisionGraph(src, config),
    });
    return { modelPath: compiled.modelPath, config };
  } finally {
    file.close();
  }
}

function row(t: Tensor, i: number): Tensor {
  const per = t.data.length / t.dims[0];
  return { data: t.data.slice(i * per, (i + 1) * per), dims: [1, ...t.dims.slice(1)] };
}

/**
 * Everything an adapter generation runs besides the base model, open: the adapter UNet (LoRAs merged), the
 * projection and, for image adapters, the CLIP image encoder. Independent of the prompt (tokens, scale and batch
 * are per run), so a model cache can keep it; `dispose` closes only these sessions.
 */
export interface AdapterModel {
  type: AdapterRequest['type'];
  config: IpAdapterConfig;
  unetConfig: UnetConfig;
  unet: OrtSession;
  projection: OrtSession;
  encoder?: { session: OrtSession; config: ClipVisionConfig };
  dispose(): Promise<void>;
}

/**
 * Conditional and unconditional image tokens [1, tokens, cross] (FaceID with several embeddings: their mean,
 * re-normalised — one identity from all training images).
 */
export async function adapterTokens(
  model: AdapterModel,
  req: AdapterRequest,
  image: Tensor | undefined,
): Promise<{ cond: Tensor; uncond: Tensor }> {
  const cfg = model.config;
  let embeds: Tensor; // [2, ...]: row 0 conditional, row 1 unconditional
  if (cfg.projection === 'faceid-mlp') {
    const faces = req.faceEmbeddings ?? [];
    if (!faces.length) throw new Error('FaceID needs a face embedding');
    const D = cfg.clipEmbeddingDim;
    const mean = new Float32Array(D);
    for (const e of faces) {
      if (e.length !== D)
        throw new Error(`face embedding has ${e.length} values, the FaceID adapter reads ${D}`);
      for (let i = 0; i < D; i++) mean[i] += e[i] / faces.length;
    }
    const norm = Math.hypot(...mean) || 1;
    const data = new Float32Array(2 * D);
    for (let i = 0; i < D; i++) data[i] = mean[i] / norm;
    embeds = { data, dims: [2, D] };
  } else {
    if (!image) throw new Error(`controlnet "${req.type}" needs an input image (the image prompt)`);
    if (!model.encoder) throw new Error(`controlnet "${req.type}" needs the CLIP image encoder`);
    const S = model.encoder.config.imageSize;
    const px = clipPixelValues(image, S);
    const batch = new Float32Array(2 * px.data.length); // [image, zeros]
    batch.set(px.data);
    const out = await model.encoder.session.run({ pixel_values: { data: batch, dims: [2, 3, S, S] } });
    if (cfg.projection === 'resampler') embeds = out.penultimate_hidden_state;
    else {
      const e = out.image_embeds;
      const D = e.dims[1];
      const data = new Float32Array(2 * D);
      data.set(e.data.subarray(0, D)); // row 1 stays zeros: zeros_like(image_embeds)
      embeds = { data, dims: [2, D] };
    }
    const width = embeds.dims[embeds.dims.length - 1];
    if (width !== cfg.clipEmbeddingDim)
      throw new Error(`the image encoder gives width ${width}, the adapter reads ${cfg.clipEmbeddingDim}`);
  }
  const { ip_tokens } = await model.projection.run({ embeds });
  return { cond: row(ip_tokens, 0), uncond: row(ip_tokens, 1) };
}

/** The prompt's LoRAs read against the base model (ModelManager.loraWeights). */
export interface AdapterLoras {
  weights: ScaledLora[];
  set: LoraSetIdentity[];
}

/**
 * The base UNet compiled with decoupled cross-attention over the base and adapter tensors (cache key: both
 * identities), FaceID's LoRA and the prompt's LoRAs merged into a copy of its weights when there are any (the
 * attention initializers keep their diffusers names, so the ordinary merge applies).
 */
export function adapterUnetGraph(
  basePath: string,
  cfg: UnetConfig,
  adapter: { source: TensorSource; config: IpAdapterConfig },
  load: Load,
  loras?: AdapterLoras,
): string {
  ipAdapterLayerMap(cfg, adapter.config); // fails with a precise message when they do not fit
  const ck = openCheckpoint(basePath);
  try {
    const un = ck.unet;
    if (!un) throw new Error(`${basePath}: no UNet`);
    const src = new UnionTensorSource([un.source, adapter.source]);
    const build = { ipAdapter: true };
    const compiled = compileCached({
      cacheDir: load.cacheDir ?? defaultCacheDir(),
      component: 'unet-ip',
      identity: src.identity(),
      options: { cfg, build },
      build: () => buildUnetGraph(src, cfg, build),
    });
    const weights: ScaledLora[] = [];
    const set: LoraSetIdentity[] = [];
    if (adapter.config.lora) {
      weights.push({ weights: faceIdLora(adapter.source, cfg), scale: 1 });
      set.push({ id: adapter.source.identity(), scale: 1 });
    }
    const user = loras?.weights.filter((w) => w.weights.layers.some((l) => l.component === 'unet')) ?? [];
    if (user.length) {
      weights.push(...(loras?.weights ?? []));
      set.push(...(loras?.set ?? []));
    }
    if (!weights.length) return compiled.modelPath;
    return mergedGraph(compiled, 'unet', weights, set, load.cacheDir ?? defaultCacheDir()).modelPath;
  } finally {
    ck.close();
  }
}

/**
 * Opens an adapter beside a loaded base model (see AdapterModel); refuses an adapter of the wrong kind for the
 * type, one that does not fit the UNet, and pickled files, before any session opens.
 */
export async function openAdapterModel(
  base: SdModel,
  basePath: string,
  req: Pick<AdapterRequest, 'type' | 'adapterPath' | 'imageEncoderDir'>,
  load: Load,
  loras?: AdapterLoras,
): Promise<AdapterModel> {
  if (base.unet.skipCount !== undefined) throw new Error('IP-Adapter: the base UNet must be the plain graph');
  const adapter = openAdapter(req.adapterPath);
  const opened: OrtSession[] = [];
  try {
    const expected = req.type === 'faceid' ? 'faceid-mlp' : req.type === 'ipadapter' ? 'linear' : 'resampler';
    if (adapter.config.projection !== expected)
      throw new Error(
        `${req.adapterPath} is a "${adapter.config.projection}" adapter; "${req.type}" needs a "${expected}" one (docs/conditioning.md)`,
      );
    const config = adapter.config;
    const unetPath = adapterUnetGraph(basePath, base.unet.config, adapter, load, loras);
    const projection = compileCached({
      cacheDir: load.cacheDir ?? defaultCacheDir(),
      component: 'ip-projection',
      identity: adapter.source.identity(),
      options: { cfg: config },
      build: () => buildIpProjectionGraph(adapter.source, config),
    });
    let encoder: AdapterModel['encoder'];
    if (config.projection !== 'faceid-mlp') {
      if (!req.imageEncoderDir) throw new Error(`controlnet "${req.type}" needs the CLIP image encoder`);
      const g = imageEncoderGraph(req.imageEncoderDir, load);
      const session = await OrtSession.create(g.modelPath, load.session);
      opened.push(session);
      encoder = { session, config: g.config };
    }
    const projectionSession = await OrtSession.create(projection.modelPath, load.session);
    opened.push(projectionSession);
    const unet = await OrtSession.create(unetPath, load.session);
    opened.push(unet);
    return {
      type: req.type,
      config,
      unetConfig: base.unet.config,
      unet,
      projection: projectionSession,
      encoder,
      dispose: async () => {
        await Promise.all(opened.map((o) => o.dispose()));
      },
    };
  } catch (e) {
    await Promise.all(opened.map((o) => o.dispose()));
    throw e;
  } finally {
    adapter.file.close();
  }
}

/**
 * One generation on an open adapter: image tokens, then txt2img (controlnet_txt2img, FaceID without an input
 * image) or img2img from the input image at `denoisingStrength`, on `base`'s other parts (with LoRAs, `base` is
 * the LoRA variant: its text encoder is already merged; the adapter UNet was opened with the same LoRAs).
 */
export async function runWithAdapter(
  base: SdModel,
  model: AdapterModel,
  req: AdapterRequest,
  opts: GenerateOptions,
): Promise<PipelineOutput> {
  if (req.type !== model.type) throw new Error(`adapter opened for "${model.type}", asked for "${req.type}"`);
  const tokens = await adapterTokens(model, req, opts.initImage);
  const unet = new IpAdapterUnet(
    model.unetConfig,
    model.unet,
    tokens,
    opts.numImages,
    req.scale ?? DEFAULT_IP_ADAPTER_SCALE,
  );
  const initImage = req.type === 'faceid' || !req.txt2img ? opts.initImage : undefined;
  return runPipeline({ ...base, unet, inpaintUnet: undefined }, { ...opts, initImage });
}

/** Open, run once, close (what the runner does until the ModelManager caches AdapterModels). */
export async function generateWithAdapter(
  base: SdModel,
  basePath: string,
  req: AdapterRequest,
  opts: GenerateOptions,
  load: Load,
  loras?: AdapterLoras,
): Promise<PipelineOutput> {
  const model = await openAdapterModel(base, basePath, req, load, loras);
  try {
    return await runWithAdapter(base, model, req, opts);
  } finally {
    await model.dispose();
  }
}
