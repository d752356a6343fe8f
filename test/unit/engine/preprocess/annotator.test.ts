// The network-preprocessor runner on a tiny ONNX annotator written in the test (the contract of
// src/engine/preprocess/annotator.ts): channel mean x 10 + 3 as a fake "depth" map.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Tensor } from '../../../../src/engine/components.ts';
import { GraphBuilder } from '../../../../src/engine/graph/builder.ts';
import { annotatorMapToImage, runAnnotator } from '../../../../src/engine/preprocess/annotator.ts';
import { preprocessControlImage } from '../../../../src/engine/preprocess/index.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'atelier-annot-'));
  const g = new GraphBuilder('fake-depth');
  const x = g.input('pixel_values', [1, 3, 'h', 'w']);
  const m = g.op('ReduceMean', [x], { axes: [1], keepdims: 1 });
  g.output('depth', g.op('Add', [g.op('Mul', [m, g.scalar(10)]), g.scalar(3)]), [1, 1, 'h', 'w']);
  g.emit(dir);
  renameSync(join(dir, 'model.onnx'), join(dir, 'annotator.onnx'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** left half black, right half white, 8 x 4 */
function halves(): Tensor {
  const data = new Float32Array(4 * 8 * 3);
  for (let y = 0; y < 4; y++) for (let x = 4; x < 8; x++) data.fill(1, (y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
  return { data, dims: [1, 4, 8, 3] };
}

describe('ONNX annotator runner', () => {
  it('depth defaults to min-max normalisation: the map spans exactly [0, 1]', async () => {
    const out = await preprocessControlImage('depth', halves(), { annotatorDir: dir });
    assert.deepEqual(out.dims, [1, 4, 8, 3]);
    assert.equal(out.data[0], 0);
    assert.equal(out.data[(0 * 8 + 7) * 3], 1);
  });

  it('other types clamp to [0, 1]; annotator.json can invert and fix the input size', async () => {
    const clamped = await runAnnotator(dir, halves(), 'clamp');
    assert.equal(clamped.data[0], 1); // 3 clamps to 1
    writeFileSync(
      join(dir, 'annotator.json'),
      JSON.stringify({ normalize: 'minmax', invert: true, inputSize: 16 }),
    );
    try {
      const inv = await runAnnotator(dir, halves(), 'clamp');
      assert.deepEqual(inv.dims, [1, 4, 8, 3]); // resized back to the request size
      assert.ok(inv.data[0] > 0.99 && inv.data[(0 * 8 + 7) * 3] < 0.01);
    } finally {
      rmSync(join(dir, 'annotator.json'));
    }
  });

  it('network types without an annotator refuse to run', async () => {
    await assert.rejects(preprocessControlImage('hed', halves()), /annotator/);
  });

  it('rejects outputs that are not one map', () => {
    assert.throws(
      () => annotatorMapToImage({ data: new Float32Array(8), dims: [2, 1, 2, 2] }, {}, 'clamp'),
      /\[1, 1\|3, h, w\]/,
    );
  });
});
