// Reference execution of the SAME model.json with TensorFlow.js (pure-JS CPU backend), using the custom layers
// (MultiplyBeta, PixelShuffle4x) exactly as the model's own npm package registers them (its `setup(tf)`).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type EsrganVariant, esrganModelJson } from '../../../../src/post/esrgan/models.ts';

const require = createRequire(import.meta.url);

interface Tf {
  setBackend(name: string): Promise<boolean>;
  tensor4d(data: Float32Array, shape: number[]): { mul(v: number): unknown; dispose(): void };
  loadLayersModel(
    handler: unknown,
  ): Promise<{ predict(x: unknown): { data(): Promise<Float32Array>; shape: number[] } }>;
  io: { fromMemory(artifacts: unknown): unknown };
}

interface ModelDefinition {
  setup?: (tf: Tf) => void;
  inputRange: [number, number];
}

let tfPromise: Promise<Tf> | null = null;
async function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const tf = require('@tensorflow/tfjs') as Tf;
    await tf.setBackend('cpu');
    return tf;
  })();
  return tfPromise;
}

export function packageDefinition(variant: EsrganVariant): ModelDefinition {
  return require(`@upscalerjs/esrgan-${variant}/4x`) as ModelDefinition;
}

/** Runs the variant's ×4 network on an HWC float (0–1) RGB image; returns HWC float 0–1 and the output shape. */
export async function referenceUpscale(
  variant: EsrganVariant,
  data: Float32Array,
  width: number,
  height: number,
): Promise<{ data: Float32Array; shape: number[] }> {
  const tf = await loadTf();
  const def = packageDefinition(variant);
  def.setup?.(tf);
  const path = esrganModelJson(variant);
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    modelTopology: unknown;
    weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
  };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const bytes = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(path), p)))),
  );
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }),
  );
  const range = def.inputRange[1];
  const x = tf.tensor4d(data, [1, height, width, 3]);
  const y = model.predict(x.mul(range));
  const out = await y.data();
  return { data: Float32Array.from(out, (v) => v / range), shape: y.shape };
}
