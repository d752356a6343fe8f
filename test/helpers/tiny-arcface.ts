// A tiny random-weight stand-in for an ArcFace ONNX export (same I/O contract as insightface's w600k_r50:
// input [1, 3, 112, 112], output [1, 512]): 16×16 average pooling, flatten, one random linear layer. Written
// by tests into `<modelsDir>/faces/arcface.onnx`; the weights are inline constants (no weights.bin beside it).
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GraphBuilder } from '../../src/engine/graph/builder.ts';

export const TINY_ARCFACE_DIM = 512;
const POOL = 16;
const CELLS = 3 * (112 / POOL) * (112 / POOL);

/** Deterministic weights [CELLS, 512] in [-0.5, 0.5). */
export function tinyArcfaceWeights(seed = 7): Float32Array {
  const w = new Float32Array(CELLS * TINY_ARCFACE_DIM);
  let s = seed >>> 0;
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    w[i] = s / 2 ** 32 - 0.5;
  }
  return w;
}

/** Writes the network to `path` (its folder is created). */
export function writeTinyArcface(path: string, seed = 7): void {
  const g = new GraphBuilder('tiny-arcface');
  const x = g.input('input.1', [1, 3, 112, 112]);
  const pooled = g.op('AveragePool', [x], { kernel_shape: [POOL, POOL], strides: [POOL, POOL] });
  const flat = g.op('Reshape', [pooled, g.constInt64([1, CELLS])]);
  g.output('683', g.op('MatMul', [flat, g.constFloat(tinyArcfaceWeights(seed), [CELLS, TINY_ARCFACE_DIM])]), [
    1,
    TINY_ARCFACE_DIM,
  ]);
  const tmp = mkdtempSync(join(tmpdir(), 'tiny-arcface-'));
  g.emit(tmp);
  mkdirSync(dirname(path), { recursive: true });
  renameSync(join(tmp, 'model.onnx'), path);
  rmSync(tmp, { recursive: true, force: true });
}

/** The same network in float64 on an NCHW input (reference for tests). */
export function tinyArcfaceReference(nchw: Float32Array, seed = 7): Float64Array {
  const w = tinyArcfaceWeights(seed);
  const cells = new Float64Array(CELLS);
  const n = 112 / POOL;
  for (let c = 0; c < 3; c++)
    for (let gy = 0; gy < n; gy++)
      for (let gx = 0; gx < n; gx++) {
        let s = 0;
        for (let y = 0; y < POOL; y++)
          for (let x = 0; x < POOL; x++) s += nchw[(c * 112 + gy * POOL + y) * 112 + gx * POOL + x];
        cells[(c * n + gy) * n + gx] = s / (POOL * POOL);
      }
  const out = new Float64Array(TINY_ARCFACE_DIM);
  for (let j = 0; j < TINY_ARCFACE_DIM; j++) {
    let s = 0;
    for (let i = 0; i < CELLS; i++) s += cells[i] * w[i * TINY_ARCFACE_DIM + j];
    out[j] = s;
  }
  return out;
}
