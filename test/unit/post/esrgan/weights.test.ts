import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { esrganModelJson } from '../../../../src/post/esrgan/models.ts';
import { readTfjsLayersModel } from '../../../../src/post/esrgan/weights.ts';

test('reads the thick ESRGAN: topology in order, every weight with its shape and values', () => {
  const m = readTfjsLayersModel(esrganModelJson('thick'));
  assert.equal(m.layers.length, 477);
  assert.deepEqual(m.inputs, ['LR_input']);
  assert.deepEqual(m.outputs, ['SR']);
  assert.equal(m.weights.size, 308);
  const seen = new Set<string>();
  for (const l of m.layers) {
    for (const i of l.inbound) assert.ok(seen.has(i), `${l.name} uses ${i} before it is defined`);
    seen.add(l.name);
  }
  const first = m.weights.get('Pre_blocks_conv/kernel');
  assert.deepEqual(first?.shape, [3, 3, 3, 64]);
  assert.equal(first?.data.length, 3 * 3 * 3 * 64);
  for (const [name, w] of m.weights) {
    assert.ok(
      w.data.every((v) => Number.isFinite(v)),
      `${name} has non-finite values`,
    );
  }
  assert.equal(m.identity, readTfjsLayersModel(esrganModelJson('thick')).identity);
  assert.notEqual(m.identity, readTfjsLayersModel(esrganModelJson('slim')).identity);
});

test('weights are read at the right offsets: the last weight of the last shard matches the raw bytes', () => {
  const path = esrganModelJson('slim');
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[] }> }>;
  };
  const group = json.weightsManifest[0];
  const last = group.weights.at(-1)!;
  const shard = readFileSync(join(path, '..', group.paths.at(-1)!));
  const count = last.shape.reduce((a, d) => a * d, 1);
  const tail = shard.subarray(shard.length - count * 4);
  const m = readTfjsLayersModel(path);
  const data = m.weights.get(last.name)!.data;
  for (let i = 0; i < count; i++) assert.equal(data[i], tail.readFloatLE(i * 4));
});

function tinyModelDir(manifestWeights: unknown[], bytes: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-'));
  writeFileSync(join(dir, 'w.bin'), new Uint8Array(bytes));
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      modelTopology: {
        model_config: {
          class_name: 'Functional',
          config: {
            layers: [
              { class_name: 'InputLayer', name: 'in', config: { name: 'in' }, inbound_nodes: [] },
              {
                class_name: 'Conv2D',
                name: 'c',
                config: { name: 'c', filters: 1, kernel_size: [1, 1], padding: 'same' },
                inbound_nodes: [[['in', 0, 0, {}]]],
              },
            ],
            input_layers: [['in', 0, 0]],
            output_layers: [['c', 0, 0]],
          },
        },
      },
      weightsManifest: [{ paths: ['w.bin'], weights: manifestWeights }],
    }),
  );
  return join(dir, 'model.json');
}

test('quantized weights, short shards and extra bytes are errors, not garbage', () => {
  const kernel = { name: 'c/kernel', shape: [1, 1, 3, 1], dtype: 'float32' };
  const bias = { name: 'c/bias', shape: [1], dtype: 'float32' };
  assert.equal(readTfjsLayersModel(tinyModelDir([kernel, bias], 16)).weights.size, 2);
  assert.throws(
    () =>
      readTfjsLayersModel(
        tinyModelDir([{ ...kernel, dtype: 'uint8', quantization: { scale: 1, min: 0, dtype: 'uint8' } }], 3),
      ),
    /quantized/,
  );
  assert.throws(() => readTfjsLayersModel(tinyModelDir([kernel, bias], 12)), /shards end/);
  assert.throws(() => readTfjsLayersModel(tinyModelDir([kernel, bias], 20)), /left over/);
});
