// LoRA in merge mode on compiled graphs (see checkpoint/lora.ts for the two modes): the base component's cached
// graph (model.onnx + weights.bin, initializers named by diffusers names) is copied with its weights file patched
// in place at the targeted initializers' offsets. The graph structure is untouched, so nothing is rebuilt; the
// copy is cached on disk under a key of (base graph, LoRA files, scales).

import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { LoraComponent, LoraTargets, ScaledLora } from './checkpoint/lora.ts';
import { mergeLoras, TargetIndex } from './checkpoint/lora.ts';
import { openCheckpoint } from './checkpoint/open.ts';
import { MODEL_FILE, WEIGHTS_FILE } from './graph/builder.ts';
import { type CompiledGraph, compileCached } from './graph/cache.ts';
import { buildClipGraph, clipConfigFromJson, detectClipConfig } from './models/clip.ts';
import { buildUnetGraph, detectUnetConfig, unetConfigFromJson } from './models/unet.ts';

/**
 * The cached graphs of a checkpoint's text encoder and UNet, addressed exactly as loadModel addresses them (same
 * component name, weight identity and options), so this finds the entries loadModel compiled.
 */
export function baseGraphs(path: string, cacheDir: string): Record<LoraComponent, CompiledGraph> {
  const ck = openCheckpoint(path);
  try {
    const te = ck.text_encoder;
    const un = ck.unet;
    if (!te || !un) throw new Error(`${path}: LoRA needs a checkpoint with a text encoder and a UNet`);
    const clipCfg = te.configJson ? clipConfigFromJson(te.configJson) : detectClipConfig(te.source);
    const unetCfg = un.configJson ? unetConfigFromJson(un.configJson) : detectUnetConfig(un.source);
    const build = {};
    return {
      text_encoder: compileCached({
        cacheDir,
        component: 'clip',
        identity: te.source.identity(),
        options: clipCfg,
        build: () => buildClipGraph(te.source, clipCfg),
      }),
      unet: compileCached({
        cacheDir,
        component: 'unet',
        identity: un.source.identity(),
        options: { cfg: unetCfg, build },
        build: () => buildUnetGraph(un.source, unetCfg, build),
      }),
    };
  } finally {
    ck.close();
  }
}

export function loraTargets(graphs: Record<LoraComponent, CompiledGraph>): LoraTargets {
  return {
    unet: new TargetIndex(graphs.unet.weights.map((w) => w.name)),
    text_encoder: new TargetIndex(graphs.text_encoder.weights.map((w) => w.name)),
  };
}

/** A base weight read back from the compiled graph's weights file. */
function graphWeightReader(g: CompiledGraph): (name: string) => Float32Array {
  const byName = new Map(g.weights.map((w) => [w.name, w]));
  return (name) => {
    const w = byName.get(name);
    if (!w) throw new Error(`graph ${g.key} has no initializer ${name}`);
    const fd = openSync(join(g.dir, WEIGHTS_FILE), 'r');
    try {
      const buf = new Float32Array(w.length / 4);
      const bytes = new Uint8Array(buf.buffer);
      let done = 0;
      while (done < bytes.length) {
        const n = readSync(fd, bytes, done, bytes.length - done, w.offset + done);
        if (n === 0) throw new Error(`short read of ${name}`);
        done += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  };
}

export interface LoraSetIdentity {
  /** stable identity of each LoRA file (e.g. its sha256 or blob key) */
  id: string;
  scale: number;
}

export function loraSetKey(base: CompiledGraph, set: LoraSetIdentity[]): string {
  const text = JSON.stringify({ base: base.key, set: set.map((l) => [l.id, l.scale]) });
  return `${base.key}-lora-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/**
 * The model.onnx of `base` with the LoRA set merged into its weights (built once, then found in the cache).
 * Returns the model path and whether this call wrote it.
 */
export function mergedGraph(
  base: CompiledGraph,
  component: LoraComponent,
  loras: ScaledLora[],
  set: LoraSetIdentity[],
  cacheDir: string,
): { modelPath: string; built: boolean; patched: number } {
  const dir = join(cacheDir, loraSetKey(base, set));
  const modelPath = join(dir, MODEL_FILE);
  if (existsSync(join(dir, 'lora.json'))) return { modelPath, built: false, patched: -1 };
  const merged = mergeLoras(component, loras, graphWeightReader(base));
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    // copy-on-write clone where the filesystem supports it, a plain copy otherwise
    copyFileSync(join(base.dir, WEIGHTS_FILE), join(tmp, WEIGHTS_FILE), constants.COPYFILE_FICLONE);
    const fd = openSync(join(tmp, WEIGHTS_FILE), 'r+');
    try {
      const byName = new Map(base.weights.map((w) => [w.name, w]));
      for (const [name, values] of merged) {
        const w = byName.get(name);
        if (!w || w.length !== values.byteLength)
          throw new Error(`LoRA target ${name} does not fit the graph`);
        writeSync(
          fd,
          new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
          0,
          w.length,
          w.offset,
        );
      }
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(join(base.dir, MODEL_FILE), join(tmp, MODEL_FILE));
    } catch {
      copyFileSync(join(base.dir, MODEL_FILE), join(tmp, MODEL_FILE));
    }
    writeFileSync(
      join(tmp, 'lora.json'),
      JSON.stringify({ base: base.key, component, set, patched: [...merged.keys()] }),
    );
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, 'lora.json'))) throw e; // another process finished first: use its copy
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { modelPath, built: true, patched: merged.size };
}
