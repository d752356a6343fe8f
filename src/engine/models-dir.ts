// Installed base models: one folder per model under <dataDir>/models/<name>/ with a small manifest
// `atelier-model.json`. A pulled model keeps its files in the folder (`files/`); a model added from a local path is
// registered in place (the manifest points at it, nothing is copied). The manifest also carries what the
// checkpoint cannot say about itself (default sampler/steps, a tokenizer folder for single-file checkpoints) and
// the operator tune that serves it.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ModelSpec } from './model-manager.ts';
import { isSamplerName, type SamplerName } from './schedulers/index.ts';

export const MANIFEST_FILE = 'atelier-model.json';

/**
 * API branches the SD engine serves from installed models: `sd15` (SD 1.x) and `sd21` (SD 2.x, e.g. SD-Turbo).
 * The graphs are built from each checkpoint's configs, so the branch is the model family's label.
 */
export const SD_BRANCHES = ['sd15', 'sd21'] as const;

export type SdBranch = (typeof SD_BRANCHES)[number];

export function isSdBranch(branch: string): branch is SdBranch {
  return (SD_BRANCHES as readonly string[]).includes(branch);
}

export interface ModelFileRecord {
  /** relative to the model folder */
  path: string;
  size: number;
  sha256: string;
  /** what the pull checked it against, e.g. "sha256 from the catalog", "git-blob-sha1 from the server's ETag", "unverified" */
  verifiedBy?: string;
}

export interface ModelManifest {
  name: string;
  /** the API branch it serves: sd15 or sd21 (SD_BRANCHES) */
  branch: string;
  /** how it got here */
  source: { kind: 'pull'; catalog: string } | { kind: 'add'; from: string };
  /** checkpoint: a diffusers folder or single .safetensors; relative paths are inside the model folder */
  checkpoint: string;
  tokenizer?: string;
  inpaintUnet?: string;
  defaultSampler?: SamplerName;
  defaultSteps?: number;
  /** guidance scale for prompts that leave cfg_scale blank (absent: the engine default, 7.5) */
  defaultCfgScale?: number;
  /** the operator-owned tune (account_id null) that serves prompts with this model */
  tuneId: number | null;
  /** files with their checksums (pulled models), checked by `atelier models verify` */
  files: ModelFileRecord[];
  installedAt: string;
}

export function modelsRoot(dataDir: string): string {
  return join(dataDir, 'models');
}

/**
 * Folders of the models directory that hold other networks (ControlNets and annotators, IP-Adapters and the image
 * encoder, face models; docs/conditioning.md, docs/post.md): never a base model's name.
 */
export const RESERVED_MODEL_NAMES: ReadonlySet<string> = new Set(['controlnet', 'ip-adapter', 'faces']);

export function modelDir(dataDir: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name)) throw new Error(`invalid model name "${name}"`);
  if (RESERVED_MODEL_NAMES.has(name))
    throw new Error(
      `"${name}" is reserved under the models directory (it holds other networks); choose another name`,
    );
  return join(modelsRoot(dataDir), name);
}

function validate(m: unknown, where: string): ModelManifest {
  const o = m as Partial<ModelManifest>;
  if (!o || typeof o.name !== 'string' || typeof o.checkpoint !== 'string' || typeof o.branch !== 'string')
    throw new Error(`${where}: not an Atelier model manifest`);
  if (o.defaultSampler !== undefined && !isSamplerName(o.defaultSampler))
    throw new Error(`${where}: unknown defaultSampler ${o.defaultSampler}`);
  if (
    o.defaultCfgScale !== undefined &&
    (typeof o.defaultCfgScale !== 'number' || !(o.defaultCfgScale >= 0 && o.defaultCfgScale <= 15))
  )
    throw new Error(`${where}: defaultCfgScale must be a number from 0 to 15`);
  return { files: [], tuneId: null, ...o } as ModelManifest;
}

export function readManifest(dataDir: string, name: string): ModelManifest | undefined {
  const file = join(modelDir(dataDir, name), MANIFEST_FILE);
  if (!existsSync(file)) return undefined;
  return validate(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** Atomic write (temp file + rename), so a reader never sees half a manifest. */
export function writeManifest(dataDir: string, m: ModelManifest): void {
  const dir = modelDir(dataDir, m.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${MANIFEST_FILE}.tmp-${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
  renameSync(tmp, join(dir, MANIFEST_FILE));
}

export function listManifests(dataDir: string): ModelManifest[] {
  const root = modelsRoot(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, MANIFEST_FILE)))
    .map((d) => readManifest(dataDir, d.name) as ModelManifest)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function findByTune(dataDir: string, tuneId: number): ModelManifest | undefined {
  return listManifests(dataDir).find((m) => m.tuneId === tuneId);
}

function inFolder(dataDir: string, m: ModelManifest, p: string): string {
  return isAbsolute(p) ? p : resolve(modelDir(dataDir, m.name), p);
}

/** What the model manager needs to load it. */
export function specOf(dataDir: string, m: ModelManifest): ModelSpec {
  return {
    key: `models/${m.name}`,
    path: inFolder(dataDir, m, m.checkpoint),
    tokenizerDir: m.tokenizer ? inFolder(dataDir, m, m.tokenizer) : undefined,
    inpaintUnetPath: m.inpaintUnet ? inFolder(dataDir, m, m.inpaintUnet) : undefined,
    defaultSampler: m.defaultSampler,
    defaultSteps: m.defaultSteps,
    defaultCfgScale: m.defaultCfgScale,
  };
}
