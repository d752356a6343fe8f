import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GraphBuilder, MODEL_FILE } from '../../../src/engine/graph/builder.ts';
import { DataType } from '../../../src/engine/graph/onnx-proto.ts';
import { FeedError, OrtSession } from '../../../src/engine/ort.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-ort-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('OrtSession feed checks', () => {
  let s: OrtSession;
  before(async () => {
    const g = new GraphBuilder('feeds');
    const x = g.input('x', ['batch', 4]);
    const ids = g.input('ids', ['batch'], DataType.INT32);
    const picked = g.op('Gather', [x, ids], { axis: 1 });
    g.output('y', picked, ['batch', 'batch']);
    g.emit(dir);
    s = await OrtSession.create(join(dir, MODEL_FILE), { intraOpThreads: 1, optimization: 'basic' });
  });
  after(() => s.dispose());

  it('exposes input names and runs a correct feed', async () => {
    assert.deepEqual([...s.inputNames].sort(), ['ids', 'x']);
    const out = await s.run({
      x: { data: Float32Array.from([1, 2, 3, 4]), dims: [1, 4] },
      ids: { data: Int32Array.from([2]), dims: [1] },
    });
    assert.deepEqual(Array.from(out.y.data), [3]);
  });

  it('names a missing input and an unknown one', async () => {
    await assert.rejects(
      s.run({ x: { data: new Float32Array(4), dims: [1, 4] }, idz: { data: new Int32Array(1), dims: [1] } }),
      (e: Error) => {
        assert.ok(e instanceof FeedError);
        assert.match(e.message, /missing input ids/);
        assert.match(e.message, /unknown input idz/);
        return true;
      },
    );
  });

  it('reports dtype, rank and fixed-dim mismatches with the fed dims', async () => {
    await assert.rejects(
      s.run({
        x: { data: new Float32Array(3), dims: [1, 3] },
        ids: { data: new Float32Array(1), dims: [1] },
      }),
      /x dim 1 must be 4.*ids must be int32, got float32.*fed x: float32\[1,3\], ids: float32\[1\]/,
    );
    await assert.rejects(
      s.run({ x: { data: new Float32Array(4), dims: [4] }, ids: { data: new Int32Array(1), dims: [1] } }),
      /x must have rank 2/,
    );
    await assert.rejects(
      s.run({ x: { data: new Float32Array(5), dims: [1, 4] }, ids: { data: new Int32Array(1), dims: [1] } }),
      /need 4 values, got 5/,
    );
  });

  it('refuses to run after dispose', async () => {
    const g = new GraphBuilder('d');
    g.output('y', g.input('x', [1]), [1]);
    const d = mkdtempSync(join(dir, 'd-'));
    g.emit(d);
    const t = await OrtSession.create(join(d, MODEL_FILE));
    await t.dispose();
    await assert.rejects(t.run({ x: { data: new Float32Array(1), dims: [1] } }), /disposed/);
  });
});
