import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GraphBuilder, MODEL_FILE, WEIGHTS_FILE } from '../../../../src/engine/graph/builder.ts';
import { compileCached, graphKey } from '../../../../src/engine/graph/cache.ts';
import { OrtSession } from '../../../../src/engine/ort.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-graph-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** y = x @ W^T + b with W, b as external-data initializers; z = softmax(y) via a constant scale. */
function linearGraph(w: Float32Array, b: Float32Array): GraphBuilder {
  const g = new GraphBuilder('test');
  const x = g.input('x', ['batch', 3]);
  const wt = g.op('Transpose', [g.weight('layer.weight', [2, 3], () => w)], { perm: [1, 0] });
  const y = g.op('Add', [g.op('MatMul', [x, wt]), g.weight('layer.bias', [2], () => b)]);
  g.output('y', y, ['batch', 2]);
  g.output('z', g.op('Softmax', [g.op('Mul', [y, g.scalar(0.5)])], { axis: -1 }), ['batch', 2]);
  return g;
}

describe('GraphBuilder', () => {
  it('emits a model onnxruntime runs, with weights in an aligned external file', async () => {
    const dir = mkdtempSync(join(root, 'emit-'));
    const w = Float32Array.from([1, 2, 3, -1, 0.5, 0]);
    const b = Float32Array.from([0.25, -0.75]);
    const placed = linearGraph(w, b).emit(dir);
    assert.deepEqual(
      placed.map((p) => [p.name, p.offset % 4096, p.length]),
      [
        ['layer.weight', 0, 24],
        ['layer.bias', 0, 8],
      ],
    );
    assert.ok(statSync(join(dir, WEIGHTS_FILE)).size >= 4096 + 8);
    assert.ok(
      !readFileSync(join(dir, MODEL_FILE)).includes(Buffer.from(w.buffer)),
      'weights are not embedded',
    );
    const s = await OrtSession.create(join(dir, MODEL_FILE));
    try {
      const out = await s.run({ x: { data: Float32Array.from([1, 1, 1, 2, 0, -2]), dims: [2, 3] } });
      assert.deepEqual(out.y.dims, [2, 2]);
      assert.deepEqual(Array.from(out.y.data), [6.25, -1.25, -3.75, -2.75]);
      const e = Math.exp(0.5 * -1.25) / (Math.exp(0.5 * 6.25) + Math.exp(0.5 * -1.25));
      assert.ok(Math.abs(out.z.data[1] - e) < 1e-7);
    } finally {
      await s.dispose();
    }
  });

  it('lets an override replace a weight by name (the LoRA path) without changing the graph', async () => {
    const dir = mkdtempSync(join(root, 'override-'));
    linearGraph(new Float32Array(6), new Float32Array(2)).emit(dir, (name) =>
      name === 'layer.bias' ? Float32Array.from([5, 6]) : undefined,
    );
    const s = await OrtSession.create(join(dir, MODEL_FILE));
    try {
      const out = await s.run({ x: { data: Float32Array.from([1, 2, 3]), dims: [1, 3] } });
      assert.deepEqual(Array.from(out.y.data), [5, 6]);
    } finally {
      await s.dispose();
    }
  });

  it('rejects a weight whose value count does not match its dims', () => {
    const dir = mkdtempSync(join(root, 'bad-'));
    assert.throws(
      () => linearGraph(new Float32Array(5), new Float32Array(2)).emit(dir),
      /layer.weight: 5 values, graph expects \[2,3\]/,
    );
  });

  it('deduplicates identical constants', () => {
    const g = new GraphBuilder('c');
    assert.equal(g.constInt64([0, 0, 1, 1]), g.constInt64([0, 0, 1, 1]));
    assert.notEqual(g.constInt64([0, 0, 1, 1]), g.constInt64([0, 0, 1, 2]));
  });
});

describe('compiled graph cache', () => {
  it('builds once, then loads from disk; options and identity change the key', () => {
    const cacheDir = join(root, 'cache');
    let builds = 0;
    const req = {
      cacheDir,
      component: 'lin',
      identity: 'ckpt-a',
      options: { n: 1 },
      build: () => {
        builds++;
        return linearGraph(new Float32Array(6), new Float32Array(2));
      },
    };
    const first = compileCached(req);
    const second = compileCached(req);
    assert.equal(first.built, true);
    assert.equal(second.built, false);
    assert.equal(builds, 1);
    assert.equal(first.modelPath, second.modelPath);
    assert.deepEqual(second.weights, first.weights);
    assert.notEqual(graphKey({ ...req, options: { n: 2 } }), graphKey(req));
    assert.notEqual(graphKey({ ...req, identity: 'ckpt-b' }), graphKey(req));
  });

  it('leaves no entry behind when a build fails', () => {
    const cacheDir = join(root, 'cache-fail');
    const req = {
      cacheDir,
      component: 'boom',
      identity: 'x',
      options: {},
      build: (): GraphBuilder => {
        throw new Error('builder failed');
      },
    };
    assert.throws(() => compileCached(req), /builder failed/);
    assert.throws(() => statSync(join(cacheDir, graphKey(req))));
  });
});

describe('GraphBuilder.ir()', () => {
  it('exposes the inputs, outputs, nodes and constants as the live arrays the graph transformations rewrite', () => {
    const g = linearGraph(new Float32Array(6), new Float32Array(2));
    const ir = g.ir();
    assert.deepEqual(
      ir.inputs.map((i) => i.name),
      ['x'],
    );
    assert.deepEqual(
      ir.outputs.map((o) => o.name),
      ['y', 'z'],
    );
    assert.deepEqual(
      ir.nodes.map((n) => n.opType),
      ['Transpose', 'MatMul', 'Add', 'Identity', 'Mul', 'Softmax', 'Identity'],
    );
    assert.equal(ir.constants.length, 1, 'the 0.5 scale');
    ir.nodes.pop();
    assert.equal(g.ir().nodes.length, 6, 'an edit through ir() is seen by the builder');
  });
});
