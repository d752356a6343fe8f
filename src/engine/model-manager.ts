// Loaded base models, shared by every prompt: one SdModel per (base model, LoRA set), built once (concurrent
// requests for the same key await the same load), reused across prompts, and evicted least-recently-used when
// loading another would pass the memory budget. Models in use (leased) are never evicted; a lease is released
// when the generation ends. A controlled model (base model + LoRA set + ControlNet: the ControlNet session and
// the UNet compiled with residual inputs, LoRA-merged like the plain one) is an entry of its own that holds a
// lease on the plain model, so the plain model outlives it and is evicted after it.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { type LoraWeights, readLora, type ScaledLora } from './checkpoint/lora.ts';
import { openCheckpoint } from './checkpoint/open.ts';
import { SafetensorsFile } from './checkpoint/safetensors.ts';
import type { TensorSource } from './checkpoint/tensor-source.ts';
import { TextEncoder, Unet } from './components.ts';
import type { CompiledGraph } from './graph/cache.ts';
import { defaultCacheDir, type LoadOptions, loadModel, loadParts } from './load.ts';
import { baseGraphs, type LoraSetIdentity, loraTargets, mergedGraph } from './lora-graphs.ts';
import { openControlNet } from './models/controlnet.ts';
import { OrtSession, type SessionSettings } from './ort.ts';
import {
  type ControlLoras,
  type ControlledSdModel,
  type ControlNetworks,
  openControlledModel,
} from './pipeline/controlnet.ts';
import { type AdapterModel, type AdapterRequest, openAdapterModel } from './pipeline/ip-adapter.ts';
import type { SdModel } from './pipeline/types.ts';
import { ANNOTATOR_CONFIG, ANNOTATOR_FILE } from './preprocess/annotator.ts';
import {
  defaultSamplerFor,
  type SamplerName,
  type SchedulerConfig,
  SD15_SCHEDULER_CONFIG,
  schedulerConfigFromDiffusers,
} from './schedulers/index.ts';
import { ClipTokenizer } from './tokenizer/index.ts';

/** Where a base model's files are and how to run it. */
export interface ModelSpec {
  /** stable identity (e.g. the models-dir folder name) */
  key: string;
  /** diffusers folder or single-file checkpoint */
  path: string;
  /** folder with vocab.json + merges.txt when the checkpoint has none (single-file checkpoints) */
  tokenizerDir?: string;
  /** a 9-channel inpainting UNet (diffusers `unet/` folder or its parent) used for masks */
  inpaintUnetPath?: string;
  defaultSampler?: SamplerName;
  defaultSteps?: number;
  defaultCfgScale?: number;
}

export interface LoadedSdModel extends SdModel {
  dispose(): Promise<void>;
}

/** Guidance scale when neither the prompt nor the model's manifest names one (diffusers' SD pipeline default). */
export const DEFAULT_CFG_SCALE = 7.5;

/** Steps used when a prompt says 0 and the manifest names none: 4 for consistency models, else 30. */
export function defaultStepsFor(sampler: SamplerName): number {
  return sampler === 'lcm' || sampler === 'tcd' ? 4 : 30;
}

export function readSchedulerConfig(path: string): SchedulerConfig {
  const file = join(path, 'scheduler', 'scheduler_config.json');
  if (existsSync(file)) return schedulerConfigFromDiffusers(JSON.parse(readFileSync(file, 'utf8')));
  return SD15_SCHEDULER_CONFIG;
}

export function readTokenizer(spec: ModelSpec): ClipTokenizer {
  const candidates = [join(spec.path, 'tokenizer'), spec.tokenizerDir].filter((d): d is string => !!d);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt')))
      return ClipTokenizer.fromFolder(dir);
  }
  throw new Error(
    `${spec.key}: no CLIP vocabulary (vocab.json + merges.txt) in ${candidates.join(' or ')}; install the model with its tokenizer`,
  );
}

/** Opens every session of a base model (graphs come from the on-disk cache when already compiled). */
export async function openSdModel(spec: ModelSpec, load: LoadOptions = {}): Promise<LoadedSdModel> {
  const tokenizer = readTokenizer(spec);
  const scheduler = readSchedulerConfig(statSync(spec.path).isDirectory() ? spec.path : '');
  const parts = await loadModel(spec.path, load);
  let inpaintUnet: SdModel['unet'] | undefined;
  if (spec.inpaintUnetPath) {
    try {
      inpaintUnet = (await loadParts(spec.inpaintUnetPath, { ...load, components: ['unet'] })).unet;
    } catch (e) {
      await parts.dispose();
      throw e;
    }
  }
  const defaultSampler = spec.defaultSampler ?? defaultSamplerFor(scheduler);
  return {
    clip: parts.clip,
    unet: parts.unet,
    vae: parts.vae,
    inpaintUnet,
    tokenizer,
    scheduler,
    defaultSampler,
    defaultSteps: spec.defaultSteps ?? defaultStepsFor(defaultSampler),
    defaultCfgScale: spec.defaultCfgScale ?? DEFAULT_CFG_SCALE,
    async dispose() {
      await Promise.all([parts.dispose(), inpaintUnet?.dispose()]);
    },
  };
}

/** float32 bytes of every tensor of a source. */
function sourceBytes(source: TensorSource): number {
  let total = 0;
  for (const n of source.names()) total += source.shape(n).reduce((a, d) => a * d, 1) * 4;
  return total;
}

/**
 * float32 bytes of every tensor of the checkpoint's components (what their sessions hold, give or take the
 * optimiser's copies).
 */
export function modelBytes(
  path: string,
  components: readonly ('unet' | 'text_encoder' | 'vae')[] = ['unet', 'text_encoder', 'vae'],
): number {
  const ck = openCheckpoint(path);
  try {
    return components.reduce((a, c) => a + (ck[c] ? sourceBytes(ck[c].source) : 0), 0);
  } finally {
    ck.close();
  }
}

/** A LoRA file applied with a scale; `id` identifies its content (e.g. blob key or sha256). */
export interface LoraRef {
  id: string;
  path: string;
  scale: number;
}

export interface ModelManagerOptions {
  cacheDir?: string;
  session?: SessionSettings;
  /** weight bytes all loaded models may hold together; default $ATELIER_MODEL_MEMORY_MB or 60 % of RAM */
  memoryBudgetBytes?: number;
}

export interface ModelLease<M extends SdModel = SdModel> {
  model: M;
  /** true when the sessions were already loaded (nothing was built or read for this lease) */
  reused: boolean;
  release(): void;
}

interface Entry {
  key: string;
  model: SdModel;
  bytes: number;
  refs: number;
  lastUsed: number;
  dispose(): Promise<void>;
}

export interface ModelManagerStats {
  baseLoads: number;
  loraLoads: number;
  /** controlled models opened (a ControlNet session plus a residual-input UNet session each) */
  controlLoads: number;
  /** image-prompt adapters opened (an adapter UNet, its projection and, for image types, the CLIP encoder) */
  adapterLoads: number;
  evictions: number;
  loadedKeys: string[];
  usedBytes: number;
}

export function defaultMemoryBudget(): number {
  const mb = Number(process.env.ATELIER_MODEL_MEMORY_MB);
  return Number.isFinite(mb) && mb > 0 ? mb * 1024 * 1024 : Math.floor(totalmem() * 0.6);
}

export class ModelManager {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly graphs = new Map<string, Record<'unet' | 'text_encoder', CompiledGraph>>();
  private readonly cacheDir: string;
  readonly budget: number;
  private counters = { baseLoads: 0, loraLoads: 0, controlLoads: 0, adapterLoads: 0, evictions: 0 };
  private clock = 0;

  private readonly opts: ModelManagerOptions;

  constructor(opts: ModelManagerOptions = {}) {
    // session settings per component unless opts.session sets them: load.ts COMPONENT_SESSION_DEFAULTS
    this.opts = opts;
    this.cacheDir = opts.cacheDir ?? defaultCacheDir();
    this.budget = opts.memoryBudgetBytes ?? defaultMemoryBudget();
  }

  stats(): ModelManagerStats {
    return {
      ...this.counters,
      loadedKeys: [...this.entries.keys()],
      usedBytes: [...this.entries.values()].reduce((a, e) => a + e.bytes, 0),
    };
  }

  /** The model with these LoRAs merged, loading (or reusing) it; release the lease when the generation ends. */
  acquire(spec: ModelSpec, loras: LoraRef[] = []): Promise<ModelLease> {
    const active = activeLoras(loras);
    return this.lease(variantKey(spec, active), () =>
      active.length ? this.openLoraVariant(spec, active) : this.openBase(spec),
    );
  }

  /**
   * The model with these LoRAs merged plus the ControlNet at `controlnetPath`, a UNet compiled with residual
   * inputs (carrying the same LoRA merge) and, for network types, the annotator in `annotatorDir`, loading (or
   * reusing) them; release the lease when the generation ends.
   * A file that is not a ControlNet is refused before anything loads; one that does not fit the base model's
   * UNet is refused with nothing of it left open.
   */
  async acquireControlled(
    spec: ModelSpec,
    loras: LoraRef[],
    networks: ControlNetworks,
  ): Promise<ModelLease<ControlledSdModel>> {
    const active = activeLoras(loras);
    const cn = openControlNet(networks.controlnetPath);
    const id = createHash('sha256');
    let bytes: number;
    try {
      id.update(cn.source.identity());
      bytes = sourceBytes(cn.source);
    } finally {
      cn.close();
    }
    if (networks.annotatorDir) {
      // a replaced annotator or an edited annotator.json is a new entry
      for (const f of [ANNOTATOR_FILE, ANNOTATOR_CONFIG]) {
        const p = join(networks.annotatorDir, f);
        const st = existsSync(p) ? statSync(p) : undefined;
        id.update(`|${p}|${st?.size}|${st?.mtimeMs}`);
        if (f === ANNOTATOR_FILE) bytes += st?.size ?? 0;
      }
    }
    const key = `${variantKey(spec, active)}+control:${id.digest('hex').slice(0, 16)}`;
    const lease = await this.lease(key, () => this.openControlled(spec, active, networks, bytes));
    // the `+control:` key holds only what openControlled built
    return lease as ModelLease<ControlledSdModel>;
  }

  /**
   * The model with these LoRAs merged plus an open image-prompt adapter (pipeline/ip-adapter.ts AdapterModel: the
   * adapter UNet carrying the same LoRA merge, its projection and, for image types, the CLIP encoder), loading
   * (or reusing) them; the lease's model is the plain model with `adapter` beside it. A replaced adapter or
   * encoder file is a new entry.
   */
  async acquireAdapted(
    spec: ModelSpec,
    loras: LoraRef[],
    req: Pick<AdapterRequest, 'type' | 'adapterPath' | 'imageEncoderDir'>,
  ): Promise<ModelLease<SdModel & { adapter: AdapterModel }>> {
    const active = activeLoras(loras);
    const id = createHash('sha256').update(req.type);
    let bytes = 0;
    const files = [req.adapterPath];
    if (req.imageEncoderDir) files.push(join(req.imageEncoderDir, 'model.safetensors'));
    for (const p of files) {
      const st = existsSync(p) ? statSync(p) : undefined;
      id.update(`|${p}|${st?.size}|${st?.mtimeMs}`);
      bytes += st?.size ?? 0;
    }
    const key = `${variantKey(spec, active)}+adapter:${id.digest('hex').slice(0, 16)}`;
    const lease = await this.lease(key, () => this.openAdapted(spec, active, req, bytes));
    return lease as ModelLease<SdModel & { adapter: AdapterModel }>;
  }

  /** Hands out a lease on the entry under `key`, opening it first when it is not loaded. */
  private async lease(
    key: string,
    open: () => Promise<Omit<Entry, 'refs' | 'lastUsed' | 'key'>>,
  ): Promise<ModelLease> {
    const loaded = this.entries.get(key);
    const entry = loaded ?? (await this.load(key, open));
    entry.refs++;
    entry.lastUsed = ++this.clock;
    let released = false;
    return {
      model: entry.model,
      reused: loaded !== undefined,
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
      },
    };
  }

  /** One load per key at a time: concurrent callers await the same promise. */
  private async load(
    key: string,
    open: () => Promise<Omit<Entry, 'refs' | 'lastUsed' | 'key'>>,
  ): Promise<Entry> {
    let p = this.pending.get(key);
    if (!p) {
      p = (async () => {
        const e: Entry = { key, refs: 0, lastUsed: ++this.clock, ...(await open()) };
        this.entries.set(key, e);
        return e;
      })().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /** Evicts idle models, least recently used first, until `bytes` more fit the budget (or nothing idle is left). */
  private async makeRoom(bytes: number, keep: Set<string> = new Set()): Promise<void> {
    const used = () => [...this.entries.values()].reduce((a, e) => a + e.bytes, 0);
    while (used() + bytes > this.budget) {
      const idle = [...this.entries.values()]
        .filter((e) => e.refs === 0 && !keep.has(e.key))
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) return; // everything loaded is in use: load anyway rather than fail the prompt
      this.entries.delete(idle.key);
      this.counters.evictions++;
      await idle.dispose();
    }
  }

  private async openBase(spec: ModelSpec) {
    const bytes = modelBytes(spec.path) + (spec.inpaintUnetPath ? modelBytes(spec.inpaintUnetPath) : 0);
    await this.makeRoom(bytes);
    const model = await openSdModel(spec, { cacheDir: this.cacheDir, session: this.opts.session });
    this.counters.baseLoads++;
    return { model, bytes, dispose: () => model.dispose() };
  }

  private baseGraphsOf(spec: ModelSpec) {
    let g = this.graphs.get(spec.key);
    if (!g) {
      g = baseGraphs(spec.path, this.cacheDir);
      this.graphs.set(spec.key, g);
    }
    return g;
  }

  /**
   * The LoRA files read against the base model's graphs (which layers of the UNet and text encoder they patch),
   * with the set's identity for merged-graph cache keys: what a merge of the UNet or text encoder needs.
   */
  loraWeights(spec: ModelSpec, loras: LoraRef[]): ControlLoras {
    const targets = loraTargets(this.baseGraphsOf(spec));
    const weights: ScaledLora[] = loras.map((l) => ({
      weights: readLoraFile(l.path, targets),
      scale: l.scale,
    }));
    const set: LoraSetIdentity[] = loras.map((l) => ({ id: l.id, scale: l.scale }));
    return { weights, set };
  }

  /** Base model sessions reused for the VAE (and untouched components); merged copies for the LoRA targets. */
  private async openLoraVariant(spec: ModelSpec, loras: LoraRef[]) {
    const base = await this.acquire(spec);
    try {
      const graphs = this.baseGraphsOf(spec);
      const { weights, set } = this.loraWeights(spec, loras);
      const touches = (c: 'unet' | 'text_encoder') =>
        weights.some((w) => w.weights.layers.some((l) => l.component === c));
      const sizeOf = (g: CompiledGraph) => g.weights.reduce((a, w) => a + w.length, 0);
      const bytes =
        (touches('unet') ? sizeOf(graphs.unet) : 0) +
        (touches('text_encoder') ? sizeOf(graphs.text_encoder) : 0);
      await this.makeRoom(bytes, new Set([spec.key]));
      const settings = this.opts.session;
      const opened: OrtSession[] = [];
      const open = async (c: 'unet' | 'text_encoder') => {
        const m = mergedGraph(graphs[c], c, weights, set, this.cacheDir);
        const s = await OrtSession.create(m.modelPath, settings);
        opened.push(s);
        return s;
      };
      try {
        const unet = touches('unet') ? new Unet(base.model.unet.config, await open('unet')) : base.model.unet;
        const clip = touches('text_encoder')
          ? new TextEncoder(base.model.clip.config, await open('text_encoder'))
          : base.model.clip;
        this.counters.loraLoads++;
        return {
          model: { ...base.model, unet, clip },
          bytes,
          dispose: async () => {
            await Promise.all(opened.map((s) => s.dispose()));
            base.release();
          },
        };
      } catch (e) {
        await Promise.all(opened.map((s) => s.dispose()));
        throw e;
      }
    } catch (e) {
      base.release();
      throw e;
    }
  }

  /**
   * The ControlNet session and the residual-input UNet beside a leased plain model (base or LoRA variant), which
   * this entry keeps leased until it is disposed.
   */
  /** An adapter beside a leased plain model (base or LoRA variant), which this entry keeps leased until disposed. */
  private async openAdapted(
    spec: ModelSpec,
    loras: LoraRef[],
    req: Pick<AdapterRequest, 'type' | 'adapterPath' | 'imageEncoderDir'>,
    fileBytes: number,
  ) {
    const plain = await this.acquire(spec, loras);
    try {
      const bytes = fileBytes + modelBytes(spec.path, ['unet']);
      await this.makeRoom(bytes, new Set([spec.key, variantKey(spec, loras)]));
      const merge = loras.length ? this.loraWeights(spec, loras) : undefined;
      const load = { cacheDir: this.cacheDir, session: this.opts.session };
      const adapter = await openAdapterModel(plain.model, spec.path, req, load, merge);
      this.counters.adapterLoads++;
      return {
        model: { ...plain.model, adapter },
        bytes,
        dispose: async () => {
          await adapter.dispose();
          plain.release();
        },
      };
    } catch (e) {
      plain.release();
      throw e;
    }
  }

  private async openControlled(
    spec: ModelSpec,
    loras: LoraRef[],
    networks: ControlNetworks,
    netBytes: number,
  ) {
    const plain = await this.acquire(spec, loras);
    try {
      const bytes = netBytes + modelBytes(spec.path, ['unet']);
      await this.makeRoom(bytes, new Set([spec.key, variantKey(spec, loras)]));
      const merge = loras.length ? this.loraWeights(spec, loras) : undefined;
      const load = { cacheDir: this.cacheDir, session: this.opts.session };
      const controlled = await openControlledModel(plain.model, spec.path, networks, load, merge);
      this.counters.controlLoads++;
      return {
        model: controlled.model,
        bytes,
        dispose: async () => {
          await controlled.dispose();
          plain.release();
        },
      };
    } catch (e) {
      plain.release();
      throw e;
    }
  }

  /** Disposes every loaded model (in use or not). */
  async close(): Promise<void> {
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => undefined)));
    const all = [...this.entries.values()]
      .sort((a, b) => Number(a.key.includes('+')) - Number(b.key.includes('+')))
      .reverse();
    this.entries.clear();
    for (const e of all) await e.dispose();
  }
}

/** LoRAs at scale 0 change nothing: they neither load nor make a separate cache entry. */
function activeLoras(loras: LoraRef[]): LoraRef[] {
  return loras.filter((l) => l.scale !== 0);
}

/** The entry key of a base model with a LoRA set. */
function variantKey(spec: ModelSpec, loras: LoraRef[]): string {
  return loras.length ? `${spec.key}+${loras.map((l) => `${l.id}@${l.scale}`).join('+')}` : spec.key;
}

function readLoraFile(path: string, targets: Parameters<typeof readLora>[1]): LoraWeights {
  const file = SafetensorsFile.open(path);
  try {
    return readLora(file, targets);
  } finally {
    file.close();
  }
}
