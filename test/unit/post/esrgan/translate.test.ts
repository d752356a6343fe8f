// The layer translator on a tiny random network built with TF.js itself (the layer kinds and options the
// shipped models do not exercise: even kernels under "same" padding, "valid" padding, fused relu, 3-way Add,
// x2 nearest upsampling), saved in the layers-model format and compared with TF.js's own execution.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileCached } from '../../../../src/engine/graph/cache.ts';
import { OrtSession } from '../../../../src/engine/ort.ts';
import { buildSrGraph, describeSrNetwork } from '../../../../src/post/esrgan/network.ts';
import { readTfjsLayersModel } from '../../../../src/post/esrgan/weights.ts';

// biome-ignore lint/suspicious/noExplicitAny: TF.js is loaded untyped through require (devDependency, CJS build).
const tf: any = createRequire(import.meta.url)('@tensorflow/tfjs');

test('random TF.js conv net → ONNX agrees with TF.js (padding variants, fused relu, Sum, Resize)', async () => {
  await tf.setBackend('cpu');
  tf.util.seedrandom?.('atelier');
  const L = tf.layers;
  const init = (seed: number) => tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed });
  const conv = (filters: number, k: number, padding: string, seed: number, activation = 'linear') =>
    L.conv2d({
      filters,
      kernelSize: k,
      padding,
      activation,
      kernelInitializer: init(seed),
      biasInitializer: init(seed + 100),
    });
  const input = tf.input({ shape: [null, null, 3] });
  const a = conv(8, 3, 'same', 1, 'relu').apply(input);
  const b = conv(5, 4, 'same', 2).apply(input); // even kernel: TF pads 1 before, 2 after
  const c = conv(6, 1, 'same', 3).apply(L.concatenate({ axis: -1 }).apply([a, b]));
  const d = conv(6, 2, 'same', 4).apply(input);
  const e = conv(6, 3, 'same', 5).apply(input);
  const sum = L.add().apply([c, d, e]);
  const up = L.upSampling2d({ size: [2, 2] }).apply(L.activation({ activation: 'relu' }).apply(sum));
  const output = conv(3, 3, 'valid', 6).apply(up);
  const model = tf.model({ inputs: input, outputs: output });

  const dir = mkdtempSync(join(tmpdir(), 'tiny-tfjs-'));
  await model.save(
    tf.io.withSaveHandler(
      async (artifacts: { modelTopology: unknown; weightSpecs: unknown; weightData: ArrayBuffer }) => {
        writeFileSync(join(dir, 'group1-shard1of1.bin'), new Uint8Array(artifacts.weightData));
        writeFileSync(
          join(dir, 'model.json'),
          JSON.stringify({
            format: 'layers-model',
            modelTopology: artifacts.modelTopology,
            weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
          }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      },
    ),
  );

  const net = readTfjsLayersModel(join(dir, 'model.json'));
  assert.equal(describeSrNetwork(net).scale, 2);
  const compiled = compileCached({
    cacheDir: join(dir, 'graphs'),
    component: 'tiny',
    identity: net.identity,
    options: {},
    build: () => buildSrGraph(net, { range: 1 }),
  });
  const session = await OrtSession.create(compiled.modelPath);
  try {
    const h = 7;
    const w = 9;
    const hwc = Float32Array.from({ length: h * w * 3 }, (_, i) => Math.sin(i * 0.7) * 0.5 + 0.5);
    const chw = new Float32Array(hwc.length);
    for (let p = 0; p < h * w; p++) for (let k = 0; k < 3; k++) chw[k * h * w + p] = hwc[p * 3 + k];
    const ref = model.predict(tf.tensor4d(hwc, [1, h, w, 3]));
    assert.deepEqual(ref.shape, [1, 2 * h - 2, 2 * w - 2, 3]);
    const refData: Float32Array = await ref.data();
    const got = (await session.run({ image: { data: chw, dims: [1, 3, h, w] } })).sr;
    assert.deepEqual(got.dims, [1, 3, 2 * h - 2, 2 * w - 2]);
    const [, , oh, ow] = got.dims;
    let worst = 0;
    for (let p = 0; p < oh * ow; p++)
      for (let k = 0; k < 3; k++)
        worst = Math.max(worst, Math.abs(got.data[k * oh * ow + p] - refData[p * 3 + k]));
    assert.ok(worst < 1e-5, `max |onnx − tfjs| = ${worst}`);
  } finally {
    await session.dispose();
  }
});
