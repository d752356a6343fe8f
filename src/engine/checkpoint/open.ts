// Opens a Stable Diffusion checkpoint in either layout and returns each component's weights by diffusers name:
//  - diffusers folder: model_index.json + unet/, vae/, text_encoder/ (each config.json + *.safetensors),
//    also a single component folder (config.json + weights) such as model-inpaint/unet;
//  - original single file: model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { convertTensorName, layoutFromKeys, type ModelFamily, UnsupportedCheckpointError } from './names.ts';
import { SafetensorsFile } from './safetensors.ts';
import { fileIdentity, type MappedTensor, MappedTensorSource, type TensorSource } from './tensor-source.ts';

export interface ComponentWeights {
  source: TensorSource;
  /** the component's diffusers/transformers config.json, when the checkpoint has one */
  configJson?: Record<string, unknown>;
}

export interface OpenedCheckpoint {
  layout: 'diffusers' | 'single-file';
  path: string;
  unet?: ComponentWeights;
  vae?: ComponentWeights;
  text_encoder?: ComponentWeights;
  close(): void;
}

const FAMILIES: ModelFamily[] = ['unet', 'vae', 'text_encoder'];
const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors'];

export function openCheckpoint(path: string): OpenedCheckpoint {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  if (statSync(path).isDirectory()) return openDiffusersFolder(path);
  if (!path.endsWith('.safetensors')) {
    throw new UnsupportedCheckpointError(
      `${path}: only .safetensors checkpoints are supported (pickled .ckpt files are not loaded)`,
    );
  }
  return openSingleFile(path);
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Opens the weight files of one component folder; handles sharded `*.safetensors.index.json`. */
export function openComponentFolder(dir: string, files: SafetensorsFile[] = []): ComponentWeights {
  const configPath = join(dir, 'config.json');
  const configJson = existsSync(configPath) ? readJson(configPath) : undefined;
  const names = readdirSync(dir);
  const table = new Map<string, MappedTensor>();
  const ids: string[] = [];
  const add = (file: SafetensorsFile, only?: Set<string>) => {
    files.push(file);
    ids.push(fileIdentity(file));
    for (const [key, info] of file.tensors) {
      if (!only || only.has(key)) table.set(key, { file, key, shape: info.shape });
    }
  };
  // preference: the standard single file, then a shard index, then any other single file (e.g. *.fp16.safetensors)
  const standard = WEIGHT_FILES.find((f) => names.includes(f));
  const index = names.find((f) => f.endsWith('.safetensors.index.json'));
  const other = names.find((f) => f.endsWith('.safetensors'));
  const single = standard ?? (index ? undefined : other);
  if (single) add(SafetensorsFile.open(join(dir, single)));
  else if (index) {
    const map = (readJson(join(dir, index)).weight_map ?? {}) as Record<string, string>;
    const byFile = new Map<string, Set<string>>();
    for (const [k, f] of Object.entries(map)) {
      if (!byFile.has(f)) byFile.set(f, new Set());
      byFile.get(f)!.add(k);
    }
    for (const [f, keys] of byFile) add(SafetensorsFile.open(join(dir, f)), keys);
  } else throw new Error(`${dir}: no .safetensors weights found`);
  return { source: new MappedTensorSource(table, ids.join(';')), configJson };
}

function openDiffusersFolder(dir: string): OpenedCheckpoint {
  const files: SafetensorsFile[] = [];
  const out: OpenedCheckpoint = {
    layout: 'diffusers',
    path: dir,
    close: () => {
      for (const f of files) f.close();
    },
  };
  try {
    if (!existsSync(join(dir, 'model_index.json')) && existsSync(join(dir, 'config.json'))) {
      // a single component folder: decide which one from its config class
      const cls = String(readJson(join(dir, 'config.json'))._class_name ?? '');
      const family: ModelFamily | undefined =
        cls === 'UNet2DConditionModel' ? 'unet' : cls === 'AutoencoderKL' ? 'vae' : undefined;
      if (!family)
        throw new UnsupportedCheckpointError(`${dir}: unsupported component class ${cls || '(none)'}`);
      out[family] = openComponentFolder(dir, files);
      return out;
    }
    for (const family of FAMILIES) {
      const sub = join(dir, family);
      if (existsSync(sub)) out[family] = openComponentFolder(sub, files);
    }
    if (!out.unet && !out.vae && !out.text_encoder) {
      throw new Error(
        `${dir}: neither a diffusers folder (unet/, vae/, text_encoder/) nor a component folder`,
      );
    }
    return out;
  } catch (e) {
    out.close();
    throw e;
  }
}

// diffusers stores the VAE mid-block attention projections as linear [C, C]; the original layout as 1x1 conv.
const VAE_ATTN_PROJ = /mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/;

function openSingleFile(path: string): OpenedCheckpoint {
  const file = SafetensorsFile.open(path);
  try {
    const keys = file.names();
    if (keys.some((k) => k.startsWith('conditioner.embedders.'))) {
      throw new UnsupportedCheckpointError(
        `${path}: Stable Diffusion XL checkpoints are not supported (SD 1.x only)`,
      );
    }
    const layout = layoutFromKeys(keys);
    const tables = new Map<ModelFamily, Map<string, MappedTensor>>(FAMILIES.map((f) => [f, new Map()]));
    for (const key of keys) {
      for (const family of FAMILIES) {
        const name = convertTensorName(key, family, layout);
        if (name === null) continue;
        let shape = file.info(key).shape;
        if (family === 'vae' && VAE_ATTN_PROJ.test(name) && shape.length === 4) shape = shape.slice(0, 2);
        if (name.endsWith('position_ids')) continue; // a buffer, not a weight
        tables.get(family)!.set(name, { file, key, shape });
      }
    }
    const id = fileIdentity(file);
    const out: OpenedCheckpoint = { layout: 'single-file', path, close: () => file.close() };
    for (const family of FAMILIES) {
      const t = tables.get(family)!;
      if (t.size) out[family] = { source: new MappedTensorSource(t, `${id}#${family}`) };
    }
    if (!out.unet) {
      throw new UnsupportedCheckpointError(
        `${path}: no UNet weights under model.diffusion_model.* (not an SD 1.x checkpoint?)`,
      );
    }
    return out;
  } catch (e) {
    file.close();
    throw e;
  }
}
