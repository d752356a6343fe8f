import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Reader for TensorFlow.js "layers-model" files: `model.json` (Keras topology + weights manifest) and its
 * `.bin` shards. Only what a feed-forward convolutional network needs is modelled: a list of layers in
 * topological order, each with its class, config and the names of the layers feeding it, and every weight as
 * a Float32Array in the manifest's shape (Keras layouts: Conv2D kernels are [kh, kw, cin, cout]).
 *
 * Ref: https://www.tensorflow.org/js/guide/save_load (format), tfjs-core `io/types.ts` WeightsManifestConfig
 * (the shards of a group are one byte stream split in order; weights follow each other in manifest order).
 */
export interface TfjsLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Names of the layers whose (only) output feeds this layer, in argument order. */
  inbound: string[];
}

export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

export interface TfjsLayersModel {
  /** Layers in the file's order, which Keras writes topologically. */
  layers: TfjsLayer[];
  inputs: string[];
  outputs: string[];
  weights: Map<string, TfjsWeight>;
  /** sha256 of model.json and the shards: identifies the exact weights (graph cache key). */
  identity: string;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

interface ModelJson {
  format?: string;
  modelTopology: {
    model_config?: { class_name: string; config: KerasFunctionalConfig };
    class_name?: string;
    config?: KerasFunctionalConfig;
  };
  weightsManifest: Array<{ paths: string[]; weights: ManifestEntry[] }>;
}

interface KerasFunctionalConfig {
  layers: Array<{
    class_name: string;
    name?: string;
    config: Record<string, unknown>;
    inbound_nodes: unknown[];
  }>;
  input_layers: Array<[string, number, number]>;
  output_layers: Array<[string, number, number]>;
}

/** Keras 2 inbound_nodes: [[ [layerName, nodeIndex, tensorIndex, kwargs], … ]] — one entry per call of the layer. */
function parseInbound(layerName: string, nodes: unknown[]): string[] {
  if (nodes.length === 0) return [];
  if (nodes.length !== 1 || !Array.isArray(nodes[0])) {
    throw new Error(`layer ${layerName}: shared layers (called ${nodes.length} times) are not supported`);
  }
  return (nodes[0] as unknown[]).map((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') {
      throw new Error(`layer ${layerName}: unrecognised inbound node ${JSON.stringify(entry)}`);
    }
    if (entry[1] !== 0 || entry[2] !== 0) {
      throw new Error(
        `layer ${layerName}: input ${entry[0]}[${entry[1]}][${entry[2]}] is not a single-output layer`,
      );
    }
    return entry[0];
  });
}

export function readTfjsLayersModel(modelJsonPath: string): TfjsLayersModel {
  const text = readFileSync(modelJsonPath, 'utf8');
  const json = JSON.parse(text) as ModelJson;
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new Error(`${modelJsonPath}: format ${json.format}, expected layers-model`);
  }
  const topo = json.modelTopology.model_config ?? json.modelTopology;
  if (!topo.config || !Array.isArray(topo.config.layers)) {
    throw new Error(`${modelJsonPath}: no functional model config in modelTopology`);
  }
  const cfg = topo.config;
  const layers: TfjsLayer[] = cfg.layers.map((l) => {
    const name = l.name ?? (l.config.name as string);
    return { className: l.class_name, name, config: l.config, inbound: parseInbound(name, l.inbound_nodes) };
  });

  const hash = createHash('sha256').update(text);
  const weights = new Map<string, TfjsWeight>();
  const dir = dirname(modelJsonPath);
  for (const group of json.weightsManifest) {
    const shards = group.paths.map((p) => readFileSync(join(dir, p)));
    for (const s of shards) hash.update(s);
    const stream = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization) {
        throw new Error(
          `weight ${w.name}: ${w.dtype}${w.quantization ? ' (quantized)' : ''} is not supported`,
        );
      }
      const count = w.shape.reduce((a, d) => a * d, 1);
      const bytes = count * 4;
      if (offset + bytes > stream.length) {
        throw new Error(`weight ${w.name}: shards end at byte ${stream.length}, need ${offset + bytes}`);
      }
      // Copy out (the concatenated buffer may not be 4-byte aligned for a view); tfjs stores little-endian.
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(stream.subarray(offset, offset + bytes));
      weights.set(w.name, { shape: w.shape, data });
      offset += bytes;
    }
    if (offset !== stream.length) {
      throw new Error(
        `${modelJsonPath}: ${stream.length - offset} bytes left over after the manifest's weights`,
      );
    }
  }
  return {
    layers,
    inputs: cfg.input_layers.map((e) => e[0]),
    outputs: cfg.output_layers.map((e) => e[0]),
    weights,
    identity: hash.digest('hex'),
  };
}
