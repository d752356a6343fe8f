// On-disk cache of compiled graphs: <cacheDir>/<key>/{model.onnx, weights.bin, manifest.json}.
// key = sha256(builder version, component, checkpoint identity, build options). A graph is built into a
// temporary folder and renamed into place, so concurrent builders and crashes never leave a half-written entry.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EmittedWeight, type GraphBuilder, MODEL_FILE } from './builder.ts';

/** Bump when any graph builder changes what it emits, so stale cache entries are not reused. */
export const BUILDER_VERSION = 4;

export interface CompiledGraph {
  key: string;
  dir: string;
  modelPath: string;
  /** where each initializer lives in weights.bin (diffusers name -> offset/length) */
  weights: EmittedWeight[];
  /** true when this call built it, false when it came from the cache */
  built: boolean;
}

export interface CompileRequest {
  cacheDir: string;
  component: string;
  /** identity of the weights (see TensorSource.identity) */
  identity: string;
  /** everything else that changes the graph (config, options); must be JSON-serialisable */
  options: unknown;
  build: () => GraphBuilder;
}

export function graphKey(r: Omit<CompileRequest, 'build' | 'cacheDir'>): string {
  const text = JSON.stringify({ v: BUILDER_VERSION, c: r.component, id: r.identity, o: r.options });
  return `${r.component}-${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
}

export function compileCached(r: CompileRequest): CompiledGraph {
  const key = graphKey(r);
  const dir = join(r.cacheDir, key);
  const manifestPath = join(dir, 'manifest.json');
  if (existsSync(manifestPath) && existsSync(join(dir, MODEL_FILE))) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { weights: EmittedWeight[] };
    return { key, dir, modelPath: join(dir, MODEL_FILE), weights: manifest.weights, built: false };
  }
  mkdirSync(r.cacheDir, { recursive: true });
  const tmp = join(r.cacheDir, `${key}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp);
  try {
    const builder = r.build();
    const weights = builder.emit(
      tmp,
      undefined,
      `${r.component} built by atelier (builder v${BUILDER_VERSION})`,
    );
    writeFileSync(
      join(tmp, 'manifest.json'),
      JSON.stringify({
        builderVersion: BUILDER_VERSION,
        component: r.component,
        options: r.options,
        weights,
      }),
    );
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // another process won the race: use its entry
      if (!existsSync(join(dir, 'manifest.json'))) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { key, dir, modelPath: join(dir, MODEL_FILE), weights: readManifest(dir), built: true };
}

function readManifest(dir: string): EmittedWeight[] {
  return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { weights: EmittedWeight[] })
    .weights;
}
