// `atelier models pull|add|list|verify`: installed base models (src/engine/models-dir.ts) and the operator tunes
// that serve them (src/store/base-models.ts). Also the store-backed ModelResolver and SdGenerator factory the
// composition root wires in (docs/models.md).
//
// pull: downloads a catalog model file by file into <dataDir>/models/<name>/files/ (src/cli/model-download.ts:
// Range resume, progress bar on stderr, size and hash checked against the catalog's pin or the server's advertised
// hash before a file is renamed into place); the manifest is written last, so an interrupted pull never looks
// installed.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BlobStore } from '../blobs/blob-store.ts';
import { type Config, databaseTarget } from '../config.ts';
import type { GenerationTune } from '../domain/ports.ts';
import { openCheckpoint } from '../engine/checkpoint/open.ts';
import { conditioningAvailability } from '../engine/conditioning.ts';
import { defaultCacheDir } from '../engine/load.ts';
import {
  ModelManager,
  type ModelManagerOptions,
  type ModelSpec,
  readTokenizer,
} from '../engine/model-manager.ts';
import {
  findByTune,
  isSdBranch,
  listManifests,
  type ModelFileRecord,
  type ModelManifest,
  modelDir,
  modelsRoot,
  readManifest,
  SD_BRANCHES,
  type SdBranch,
  specOf,
  writeManifest,
} from '../engine/models-dir.ts';
import { InProcessRunner } from '../engine/pipeline-runner.ts';
import { isSamplerName, type SamplerName } from '../engine/schedulers/index.ts';
import { type ModelResolver, SdGenerator, type SdGeneratorOptions } from '../engine/sd-generator.ts';
import { ThreadRunner } from '../engine/thread-runner.ts';
import { baseModelNameOf, findBaseModelTune, insertBaseModelTune } from '../store/base-models.ts';
import { type Db, openDatabase } from '../store/db.ts';
import { getTune, listTuneImages, updateTune } from '../store/tunes.ts';
import { conditioningTable } from './conditioning-table.ts';
import { type CatalogFile, type DownloadDeps, downloadFile, hashFile } from './model-download.ts';

export { type CatalogFile, downloadFile, OfflineError } from './model-download.ts';

export interface CatalogModel {
  name: string;
  title: string;
  branch: string;
  defaultSampler?: SamplerName;
  defaultSteps?: number;
  /** the guidance scale a prompt gets when it leaves cfg_scale blank */
  defaultCfgScale?: number;
  note?: string;
  files: CatalogFile[];
}

const HF = (repo: string, files: [string, string][]): CatalogFile[] =>
  files.map(([path, remote]) => ({
    path,
    url: `https://huggingface.co/${repo}/resolve/main/${remote}`,
    size: null,
    sha256: null,
  }));

const SD_LAYOUT_FP16: [string, string][] = [
  ['model_index.json', 'model_index.json'],
  ['scheduler/scheduler_config.json', 'scheduler/scheduler_config.json'],
  ['text_encoder/config.json', 'text_encoder/config.json'],
  ['text_encoder/model.safetensors', 'text_encoder/model.fp16.safetensors'],
  ['tokenizer/vocab.json', 'tokenizer/vocab.json'],
  ['tokenizer/merges.txt', 'tokenizer/merges.txt'],
  ['tokenizer/tokenizer_config.json', 'tokenizer/tokenizer_config.json'],
  ['tokenizer/special_tokens_map.json', 'tokenizer/special_tokens_map.json'],
  ['unet/config.json', 'unet/config.json'],
  ['unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors'],
  ['vae/config.json', 'vae/config.json'],
  ['vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors'],
];

/**
 * Known base models. Checksums are not pinned here (this table was written without network access to the
 * files): each file is verified against the hash Hugging Face's resolve endpoint advertises (X-Linked-Etag:
 * sha256 of an LFS file; ETag: git blob sha1 of a small file), see model-download.ts. A pinned size + sha256
 * per file takes precedence over what the server says.
 */
export const CATALOG: CatalogModel[] = [
  {
    name: 'sd15',
    title: 'Stable Diffusion 1.5',
    branch: 'sd15',
    files: HF('stable-diffusion-v1-5/stable-diffusion-v1-5', SD_LAYOUT_FP16),
  },
  {
    name: 'sd-turbo',
    title: 'SD-Turbo',
    branch: 'sd21',
    defaultSampler: 'euler_a',
    defaultSteps: 1,
    // distilled for sampling without classifier-free guidance (Sauer et al. 2023, "Adversarial Diffusion
    // Distillation"): a blank cfg_scale means none; an explicit one above 1 is honoured as asked
    defaultCfgScale: 0,
    note: 'SD 2.1 architecture; distilled for guidance off: prompts that leave cfg_scale blank run without guidance',
    files: HF('stabilityai/sd-turbo', SD_LAYOUT_FP16),
  },
];

export interface ModelsCommandDeps extends Omit<DownloadDeps, 'allowUnverified'> {
  catalog?: CatalogModel[];
  out?: (line: string) => void;
}

const USAGE = `usage: atelier models <command>
  list                                   installed base models, their tunes, and the controlnet types
  pull <name> [--tune-id N] [--title T] [--allow-unverified]
                                         download a catalog model (${CATALOG.map((c) => c.name).join(', ')}),
                                         every file verified against the catalog's or the server's hash
  add <path> [--name N] [--tune-id N] [--title T] [--tokenizer DIR] [--inpaint-unet PATH]
      [--default-sampler S] [--default-steps N] [--default-cfg-scale X] [--branch B]
                                         register a local checkpoint (folder or .safetensors) in place
  verify [name]                          re-check checksums and that each checkpoint opens`;

export async function runModelsCommand(
  argv: string[],
  config: Config,
  deps: ModelsCommandDeps = {},
): Promise<number> {
  const out = deps.out ?? console.log;
  const [sub, ...rest] = argv;
  if (sub === 'list') return listCommand(config, out);
  if (sub === 'verify') return verifyCommand(config, rest[0], out);
  if (sub === 'pull' || sub === 'add') {
    const db = await openDatabase(databaseTarget(config));
    try {
      return sub === 'pull'
        ? await pullCommand(config, db, rest, deps, out)
        : await addCommand(config, db, rest, out);
    } catch (e) {
      out(`error: ${(e as Error).message}`);
      return 1;
    } finally {
      await db.destroy();
    }
  }
  out(USAGE);
  return sub === undefined || sub === 'help' ? 0 : 1;
}

function listCommand(config: Config, out: (l: string) => void): number {
  const models = listManifests(config.dataDir);
  if (!models.length)
    out('no base models installed (atelier models pull sd15, or atelier models add <path>)');
  else out(['name', 'branch', 'tune', 'source', 'checkpoint'].join('\t'));
  for (const m of models) {
    const source = m.source.kind === 'pull' ? `pull ${m.source.catalog}` : `add ${m.source.from}`;
    out([m.name, m.branch, m.tuneId ?? '-', source, specOf(config.dataDir, m).path].join('\t'));
  }
  const root = modelsRoot(config.dataDir);
  out('');
  for (const line of conditioningTable(root, conditioningAvailability(root))) out(line);
  return 0;
}

/**
 * The checkpoint has all three networks and a tokenizer (what a prompt needs); returns the branch its text encoder
 * says it belongs to: sd21 for OpenCLIP (gelu, as SD 2.x's config writes it, or 1024 wide), else sd15 (CLIP ViT-L,
 * quick_gelu).
 */
function checkInstallable(spec: ModelSpec): SdBranch {
  const ck = openCheckpoint(spec.path);
  let branch: SdBranch;
  try {
    const missing = (['unet', 'vae', 'text_encoder'] as const).filter((c) => !ck[c]);
    if (missing.length) throw new Error(`${spec.path} lacks ${missing.join(', ')}`);
    const te = ck.text_encoder!;
    const width = te.source.shape('text_model.embeddings.token_embedding.weight')[1];
    branch = te.configJson?.hidden_act === 'gelu' || width === 1024 ? 'sd21' : 'sd15';
  } finally {
    ck.close();
  }
  readTokenizer(spec);
  return branch;
}

/** The branch a model is registered under: the one asked for, which must be served and fit the checkpoint. */
function branchFor(asked: string | undefined, detected: SdBranch, what: string): SdBranch {
  if (asked === undefined) return detected;
  if (!isSdBranch(asked))
    throw new Error(`--branch ${asked}: the engine serves ${SD_BRANCHES.join(' and ')} models only`);
  if (asked !== detected)
    throw new Error(
      `${what} is an ${detected === 'sd21' ? 'SD 2.x (OpenCLIP text encoder)' : 'SD 1.x (CLIP ViT-L text encoder)'} model, not ${asked}; register it as --branch ${detected}`,
    );
  return asked;
}

async function registerTune(
  db: Db,
  m: ModelManifest,
  title: string,
  tuneId: number | undefined,
): Promise<number> {
  const existing = await findBaseModelTune(db, m.name);
  if (existing && (tuneId === undefined || existing.id === tuneId)) return existing.id;
  if (tuneId !== undefined) {
    const taken = await getTune(db, tuneId);
    if (taken) {
      if (baseModelNameOf(taken) === null)
        throw new Error(`tune id ${tuneId} is already used by another tune`);
      await updateTune(db, tuneId, { args: JSON.stringify({ base_model: m.name }), branch: m.branch, title });
      return tuneId;
    }
  }
  return (await insertBaseModelTune(db, { id: tuneId, title, branch: m.branch, modelName: m.name })).id;
}

/** --default-cfg-scale: within the API's cfg_scale range (0–15). */
function cfgOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 15)
    throw new Error(`--default-cfg-scale must be a number from 0 to 15, got "${v}"`);
  return n;
}

function intOption(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got "${v}"`);
  return n;
}

async function addCommand(config: Config, db: Db, argv: string[], out: (l: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'tune-id': { type: 'string' },
      title: { type: 'string' },
      tokenizer: { type: 'string' },
      'inpaint-unet': { type: 'string' },
      'default-sampler': { type: 'string' },
      'default-steps': { type: 'string' },
      'default-cfg-scale': { type: 'string' },
      branch: { type: 'string' },
    },
  });
  const path = positionals[0];
  if (!path) throw new Error('add needs a checkpoint path (diffusers folder or .safetensors file)');
  const abs = resolve(path);
  const sampler = values['default-sampler'];
  if (sampler !== undefined && !isSamplerName(sampler)) throw new Error(`unknown sampler ${sampler}`);
  const name =
    values.name ??
    (abs.split('/').pop() ?? 'model').replace(/\.safetensors$/, '').replace(/[^A-Za-z0-9_.-]/g, '-');
  modelDir(config.dataDir, name); // an invalid or reserved name is refused before any tune is registered
  const manifest: ModelManifest = {
    name,
    branch: 'sd15', // set from the checkpoint below
    source: { kind: 'add', from: abs },
    checkpoint: abs,
    tokenizer: values.tokenizer ? resolve(values.tokenizer) : undefined,
    inpaintUnet: values['inpaint-unet'] ? resolve(values['inpaint-unet']) : undefined,
    defaultSampler: sampler as SamplerName | undefined,
    defaultSteps: intOption(values['default-steps'], '--default-steps'),
    defaultCfgScale: cfgOption(values['default-cfg-scale']),
    tuneId: null,
    files: [],
    installedAt: new Date().toISOString(),
  };
  manifest.branch = branchFor(values.branch, checkInstallable(specOf(config.dataDir, manifest)), abs);
  manifest.tuneId = await registerTune(
    db,
    manifest,
    values.title ?? name,
    intOption(values['tune-id'], '--tune-id'),
  );
  writeManifest(config.dataDir, manifest);
  out(`added ${name} (${abs}) as base-model tune ${manifest.tuneId}`);
  return 0;
}

async function pullCommand(
  config: Config,
  db: Db,
  argv: string[],
  deps: ModelsCommandDeps,
  out: (l: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'tune-id': { type: 'string' },
      title: { type: 'string' },
      'allow-unverified': { type: 'boolean' },
    },
  });
  const catalog = deps.catalog ?? CATALOG;
  const entry = catalog.find((c) => c.name === positionals[0]);
  if (!entry)
    throw new Error(
      `unknown model "${positionals[0] ?? ''}" (known: ${catalog.map((c) => c.name).join(', ')})`,
    );
  const dir = modelDir(config.dataDir, entry.name);
  const files: ModelFileRecord[] = [];
  for (const f of entry.files) {
    const dest = join(dir, 'files', f.path);
    const prior = readManifest(config.dataDir, entry.name)?.files.find((r) => r.path === f.path);
    if (existsSync(dest) && prior && statSync(dest).size === prior.size) {
      files.push(prior); // already downloaded and checked
      continue;
    }
    const got = await downloadFile(f, dest, { ...deps, allowUnverified: values['allow-unverified'] });
    if (got.resumedFrom > 0) out(`${f.path}: resumed at byte ${got.resumedFrom}`);
    out(
      got.verifiedBy === 'unverified'
        ? `${f.path}: UNVERIFIED (--allow-unverified; no checksum from the catalog or the server); recorded sha256 ${got.sha256}`
        : `${f.path}: ${got.verifiedBy} verified`,
    );
    files.push({ path: got.path, size: got.size, sha256: got.sha256, verifiedBy: got.verifiedBy });
  }
  const manifest: ModelManifest = {
    name: entry.name,
    branch: entry.branch,
    source: { kind: 'pull', catalog: entry.name },
    checkpoint: 'files',
    defaultSampler: entry.defaultSampler,
    defaultSteps: entry.defaultSteps,
    defaultCfgScale: entry.defaultCfgScale,
    tuneId: null,
    files,
    installedAt: new Date().toISOString(),
  };
  branchFor(entry.branch, checkInstallable(specOf(config.dataDir, manifest)), `catalog model ${entry.name}`);
  manifest.tuneId = await registerTune(
    db,
    manifest,
    values.title ?? entry.title,
    intOption(values['tune-id'], '--tune-id'),
  );
  writeManifest(config.dataDir, manifest);
  out(`pulled ${entry.name} as base-model tune ${manifest.tuneId}${entry.note ? ` (${entry.note})` : ''}`);
  return 0;
}

async function verifyCommand(
  config: Config,
  only: string | undefined,
  out: (l: string) => void,
): Promise<number> {
  const models = listManifests(config.dataDir).filter((m) => !only || m.name === only);
  if (only && !models.length) {
    out(`no installed model named ${only}`);
    return 1;
  }
  let failed = 0;
  for (const m of models) {
    const problems: string[] = [];
    for (const f of m.files) {
      const p = join(modelDir(config.dataDir, m.name), 'files', f.path);
      if (!existsSync(p)) problems.push(`${f.path} missing`);
      else if (statSync(p).size !== f.size)
        problems.push(`${f.path} has ${statSync(p).size} bytes, expected ${f.size}`);
      else if ((await hashFile(p)).sha256 !== f.sha256) problems.push(`${f.path} sha256 differs`);
    }
    try {
      checkInstallable(specOf(config.dataDir, m));
    } catch (e) {
      problems.push((e as Error).message);
    }
    if (problems.length) failed++;
    out(`${m.name}: ${problems.length ? `FAILED: ${problems.join('; ')}` : 'ok'}`);
  }
  return failed ? 1 : 0;
}

/**
 * The store-backed resolver: a base-model tune maps to its model folder; a LoRA tune to its base tune's model
 * and to its weights blob (`tunes/<id>/weights.safetensors`), copied once into a content-addressed local file.
 */
export function storeModelResolver(deps: {
  db: Db;
  blobs: BlobStore;
  dataDir: string;
  loraDir?: string;
}): ModelResolver {
  const loraDir = deps.loraDir ?? join(defaultCacheDir(), 'loras');
  const specFor = async (tuneId: number, seen: Set<number> = new Set()): Promise<ModelSpec> => {
    const tune = await getTune(deps.db, tuneId);
    if (!tune) throw new Error(`tune ${tuneId} not found`);
    const name = baseModelNameOf(tune);
    const manifest = name ? readManifest(deps.dataDir, name) : findByTune(deps.dataDir, tune.id);
    if (manifest) return specOf(deps.dataDir, manifest);
    if (tune.base_tune_id !== null && !seen.has(tune.base_tune_id)) {
      seen.add(tune.id);
      return specFor(tune.base_tune_id, seen);
    }
    throw new Error(
      `tune ${tuneId} has no installed base model (atelier models pull sd15, or atelier models add <path> --tune-id N)`,
    );
  };
  return {
    baseModel: (tune: GenerationTune) => specFor(tune.id),
    async loraFile(tuneId) {
      const data = await deps.blobs.get(`tunes/${tuneId}/weights.safetensors`);
      if (!data) return null;
      const sha = createHash('sha256').update(data).digest('hex');
      const path = join(loraDir, `${sha}.safetensors`);
      if (!existsSync(path)) {
        mkdirSync(loraDir, { recursive: true });
        const tmp = `${path}.tmp-${process.pid}`;
        writeFileSync(tmp, data);
        renameSync(tmp, path);
      }
      return { id: sha, path };
    },
    async trainingImages(tuneId) {
      const out: Buffer[] = [];
      for (const img of await listTuneImages(deps.db, tuneId)) {
        const data = await deps.blobs.get(img.blob_key);
        if (data) out.push(data);
      }
      return out;
    },
    readTuneFile: (tuneId, name) => deps.blobs.get(`tunes/${tuneId}/${name}`),
    writeTuneFile: (tuneId, name, data) => deps.blobs.put(`tunes/${tuneId}/${name}`, data),
  };
}

/**
 * The real generator for the composition root: `engines.generators.push(createSdGenerator(config, { db, blobs }))`.
 * By default the pipelines run on a worker thread (onnxruntime blocks the thread it runs on, which must not be the
 * server's); `thread: false` runs them in this thread.
 */
export function createSdGenerator(
  config: Config,
  deps: { db: Db; blobs: BlobStore },
  opts: { manager?: ModelManagerOptions; generator?: SdGeneratorOptions; thread?: boolean } = {},
): SdGenerator {
  const runner =
    opts.thread === false
      ? new InProcessRunner(new ModelManager(opts.manager))
      : new ThreadRunner(opts.manager);
  return new SdGenerator(runner, storeModelResolver({ ...deps, dataDir: config.dataDir }), opts.generator);
}
