// loadModel: checkpoint (diffusers folder or single .safetensors) -> compiled, cached graphs -> sessions.

import { join } from 'node:path';
import type { ComponentWeights } from './checkpoint/open.ts';
import { openCheckpoint } from './checkpoint/open.ts';
import { LazySession, TextEncoder, Unet, Vae } from './components.ts';
import { compileCached } from './graph/cache.ts';
import { buildClipGraph, type ClipConfig, clipConfigFromJson, detectClipConfig } from './models/clip.ts';
import {
  buildUnetGraph,
  detectUnetConfig,
  type UnetBuildOptions,
  type UnetConfig,
  unetConfigFromJson,
  unetSkipCount,
} from './models/unet.ts';
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  detectVaeConfig,
  type VaeConfig,
  vaeConfigFromJson,
} from './models/vae.ts';
import { OrtSession, type SessionSettings } from './ort.ts';

export type Component = 'text_encoder' | 'unet' | 'vae';

export interface LoadOptions {
  /** where compiled graphs are cached (default $ATELIER_GRAPH_CACHE or ./.cache/graphs) */
  cacheDir?: string;
  session?: SessionSettings;
  /** corrections for what shape detection cannot see (head counts, scaling factor, ...) */
  overrides?: { unet?: Partial<UnetConfig>; clip?: Partial<ClipConfig>; vae?: Partial<VaeConfig> };
  unet?: UnetBuildOptions;
  /** which components to load (default: all present) */
  components?: Component[];
}

export interface ModelConfig {
  layout: 'diffusers' | 'single-file';
  path: string;
  clip?: ClipConfig;
  unet?: UnetConfig;
  vae?: VaeConfig;
}

export interface ModelParts {
  config: ModelConfig;
  clip?: TextEncoder;
  unet?: Unet;
  vae?: Vae;
  dispose(): Promise<void>;
}

export interface LoadedModel extends ModelParts {
  clip: TextEncoder;
  unet: Unet;
  vae: Vae;
}

/**
 * Session settings per component where `session` leaves them unset.
 * - optimization 'all' for the VAE adds onnxruntime's NCHWc convolution layout: it decoded 256x256 in 53 s vs
 *   85 s with 'extended' (alternating runs in one process, loaded 2-core VM, outputs 1.1e-5 apart) for a
 *   session that opens ~20 s slower. The UNet stays 'extended': 'all' gained ~10% there but made its session
 *   take 21-61 s instead of 8-13 s and keeps NCHWc copies of its 2.2 GB of conv weights (docs/engine.md).
 * - no CPU arena: the arena keeps a session's activations after each run (~1 GiB for a 512x512 VAE decode,
 *   ~0.5 GiB for a 512x512 batch-2 UNet evaluation), so UNet + VAE peaked at 1.73x their weights; without it
 *   1.30x, and steady-state runs were not slower (only a session's first run pays for fresh pages).
 */
export const COMPONENT_SESSION_DEFAULTS: Record<'clip' | 'unet' | 'vae', SessionSettings> = {
  clip: { optimization: 'extended', cpuMemArena: false },
  unet: { optimization: 'extended', cpuMemArena: false },
  vae: { optimization: 'all', cpuMemArena: false },
};

export function defaultCacheDir(): string {
  return process.env.ATELIER_GRAPH_CACHE ?? join(process.cwd(), '.cache', 'graphs');
}

function resolveConfig<C>(
  w: ComponentWeights,
  fromJson: (j: Record<string, unknown>) => C,
  detect: (w: ComponentWeights['source']) => C,
  override?: Partial<C>,
): C {
  return { ...(w.configJson ? fromJson(w.configJson) : detect(w.source)), ...override };
}

/** Loads whichever components the checkpoint has (or those asked for). */
export async function loadParts(path: string, opts: LoadOptions = {}): Promise<ModelParts> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const want = new Set<Component>(opts.components ?? ['text_encoder', 'unet', 'vae']);
  const ck = openCheckpoint(path);
  const config: ModelConfig = { layout: ck.layout, path };
  const open = (modelPath: string, component: keyof typeof COMPONENT_SESSION_DEFAULTS) => {
    const settings: SessionSettings = { ...COMPONENT_SESSION_DEFAULTS[component] };
    for (const [k, v] of Object.entries(opts.session ?? {}))
      if (v !== undefined) Object.assign(settings, { [k]: v });
    return OrtSession.create(modelPath, settings);
  };
  const parts: ModelParts = {
    config,
    dispose: async () => {
      await Promise.all([parts.clip?.dispose(), parts.unet?.dispose(), parts.vae?.dispose()]);
    },
  };
  try {
    // graphs are compiled (or found in the cache) while the checkpoint is open; sessions read the cache only
    let clipPath: string | undefined;
    let unetPath: string | undefined;
    let vaePaths: { encoder: string; decoder: string } | undefined;
    const te = ck.text_encoder;
    if (te && want.has('text_encoder')) {
      const cfg = resolveConfig(te, clipConfigFromJson, (s) => detectClipConfig(s), opts.overrides?.clip);
      config.clip = cfg;
      clipPath = compileCached({
        cacheDir,
        component: 'clip',
        identity: te.source.identity(),
        options: cfg,
        build: () => buildClipGraph(te.source, cfg),
      }).modelPath;
    }
    const un = ck.unet;
    if (un && want.has('unet')) {
      const cfg = resolveConfig(un, unetConfigFromJson, (s) => detectUnetConfig(s), opts.overrides?.unet);
      config.unet = cfg;
      const build = opts.unet ?? {};
      unetPath = compileCached({
        cacheDir,
        component: 'unet',
        identity: un.source.identity(),
        options: { cfg, build },
        build: () => buildUnetGraph(un.source, cfg, build),
      }).modelPath;
    }
    const va = ck.vae;
    if (va && want.has('vae')) {
      const cfg = resolveConfig(va, vaeConfigFromJson, (s) => detectVaeConfig(s), opts.overrides?.vae);
      config.vae = cfg;
      const id = va.source.identity();
      vaePaths = {
        decoder: compileCached({
          cacheDir,
          component: 'vae-decoder',
          identity: id,
          options: cfg,
          build: () => buildVaeDecoderGraph(va.source, cfg),
        }).modelPath,
        encoder: compileCached({
          cacheDir,
          component: 'vae-encoder',
          identity: id,
          options: cfg,
          build: () => buildVaeEncoderGraph(va.source, cfg),
        }).modelPath,
      };
    }
    ck.close();
    if (clipPath && config.clip) parts.clip = new TextEncoder(config.clip, await open(clipPath, 'clip'));
    if (unetPath && config.unet) {
      const skips = opts.unet?.controlResiduals ? unetSkipCount(config.unet) : undefined;
      parts.unet = new Unet(config.unet, await open(unetPath, 'unet'), skips);
    }
    if (vaePaths && config.vae) {
      const { decoder, encoder } = vaePaths;
      parts.vae = new Vae(
        config.vae,
        new LazySession(() => open(decoder, 'vae')),
        new LazySession(() => open(encoder, 'vae')),
      );
    }
    return parts;
  } catch (e) {
    ck.close();
    await parts.dispose();
    throw e;
  }
}

/** Loads a full SD 1.x model (text encoder, UNet, VAE); fails when one is missing. */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const parts = await loadParts(path, { ...opts, components: undefined });
  const missing = (['clip', 'unet', 'vae'] as const).filter((k) => !parts[k]);
  if (missing.length) {
    await parts.dispose();
    throw new Error(
      `${path}: checkpoint lacks ${missing.join(', ')} (use loadParts for partial checkpoints)`,
    );
  }
  return parts as LoadedModel;
}
