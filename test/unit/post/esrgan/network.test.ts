import assert from 'node:assert/strict';
import { test } from 'node:test';
import { esrganModelJson } from '../../../../src/post/esrgan/models.ts';
import { buildSrGraph, describeSrNetwork, kerasKernelToOnnx } from '../../../../src/post/esrgan/network.ts';
import { readTfjsLayersModel } from '../../../../src/post/esrgan/weights.ts';
import { packageDefinition } from './reference.ts';

test('Keras [kh,kw,cin,cout] kernels land at ONNX [cout,cin,kh,kw]', () => {
  const shape = [2, 3, 4, 5];
  const src = Float32Array.from({ length: 120 }, (_, i) => i);
  const out = kerasKernelToOnnx(src, shape);
  for (let y = 0; y < 2; y++)
    for (let x = 0; x < 3; x++)
      for (let i = 0; i < 4; i++)
        for (let o = 0; o < 5; o++)
          assert.equal(out[((o * 4 + i) * 2 + y) * 3 + x], src[((y * 3 + x) * 4 + i) * 5 + o]);
});

test('MAC counts follow the architecture: thick RRDN = 30 RDBs of 4 dense convs + fusion, plus head and tail', () => {
  const thick = describeSrNetwork(readTfjsLayersModel(esrganModelJson('thick')));
  const rdb = 9 * 32 * (64 + 96 + 128 + 160) + 9 * 192 * 64;
  const expected = 9 * 3 * 64 + 30 * rdb + 9 * 64 * 64 + 9 * 64 * 48 + 16 * 9 * 3 * 3;
  assert.equal(thick.scale, 4);
  assert.equal(thick.macsPerInputPixel, expected);
  for (const v of ['medium', 'slim'] as const) {
    const info = describeSrNetwork(readTfjsLayersModel(esrganModelJson(v)));
    assert.equal(info.scale, 4);
    assert.ok(info.macsPerInputPixel < thick.macsPerInputPixel / 5);
  }
});

test('the package definitions agree with the value ranges the graphs are built for', async () => {
  const { ESRGAN_VARIANTS } = await import('../../../../src/post/esrgan/models.ts');
  for (const v of ['thick', 'medium', 'slim'] as const) {
    assert.equal(packageDefinition(v).inputRange[1], ESRGAN_VARIANTS[v].range, v);
  }
});

test('layers the translator does not know are refused by name', () => {
  const m = readTfjsLayersModel(esrganModelJson('slim'));
  const broken = {
    ...m,
    layers: m.layers.map((l, i) => (i === 3 ? { ...l, className: 'BatchNormalization' } : l)),
  };
  assert.throws(() => buildSrGraph(broken, { range: 255 }), /BatchNormalization.*not supported/);
});

test('a conv reading a (nested) concatenation becomes summed partial convs on kernel slices: no Concat left', () => {
  const model = readTfjsLayersModel(esrganModelJson('thick'));
  const { nodes } = buildSrGraph(model, { range: 1 }).ir();
  const count = (op: string) => nodes.filter((n) => n.opType === op).length;
  assert.equal(count('Concat'), 0);
  // each RDB: dense convs on 1, 2, 3, 4 concatenated inputs and the fusion conv on 5 -> 15 partials; head/tail 4
  assert.equal(count('Conv'), 30 * 15 + 4);
  // the slices of each kernel's input channels are contiguous and cover all of them
  const slices = new Map<string, [number, number][]>();
  for (const n of nodes.filter((n) => n.opType === 'Conv')) {
    const m = /^(.*\/kernel)\[(\d+):(\d+)\]$/.exec(n.inputs[1]);
    if (m) slices.set(m[1], [...(slices.get(m[1]) ?? []), [Number(m[2]), Number(m[3])]]);
  }
  assert.equal(slices.size, 30 * 4);
  for (const [kernel, ranges] of slices) {
    const cin = model.weights.get(kernel)?.shape[2];
    let next = 0;
    for (const [lo, hi] of ranges) {
      assert.equal(lo, next, kernel);
      next = hi;
    }
    assert.equal(next, cin, kernel);
  }
});
