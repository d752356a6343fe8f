// Tiny ONNX networks the face-stage tests install as operator models: built with the engine's GraphBuilder from
// constants only (no external weights file), written to the exact path the stage looks for.
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GraphBuilder, MODEL_FILE } from '../../../../src/engine/graph/builder.ts';
import { arcfacePath } from '../../../../src/post/faces/embedding.ts';
import { swapModelPath } from '../../../../src/post/faces/swap.ts';

export function writeNet(path: string, build: (g: GraphBuilder) => void): void {
  const g = new GraphBuilder('test-net');
  build(g);
  const dir = mkdtempSync(join(tmpdir(), 'atelier-net-'));
  try {
    g.emit(dir);
    mkdirSync(dirname(path), { recursive: true });
    renameSync(join(dir, MODEL_FILE), path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A 1×1 convolution y_c = k·x_c + b_c on [1,3,S,S]: k = 1, b = 0 is the identity; k = 0 paints colour b. */
export function conv1x1(g: GraphBuilder, x: string, k: number, b: readonly [number, number, number]): string {
  const w = [k, 0, 0, 0, k, 0, 0, 0, k];
  return g.op('Conv', [x, g.constFloat(w, [3, 3, 1, 1]), g.constFloat(b, [3])]);
}

const D = 512;
/** emap: a cyclic shift, latent[j] = identity[j − 1] (so applying it or not gives different colours). */
export function shiftEmap(): Float32Array {
  const m = new Float32Array(D * D);
  for (let i = 0; i < D; i++) m[i * D + ((i + 1) % D)] = 1;
  return m;
}

/**
 * inswapper-shaped net: target [1,3,128,128], source [1,512] → 0·target + 0.5 + 0.5·source[0..2] per channel;
 * the emap is the last initializer, used by no node (as in inswapper_128.onnx).
 */
export function installSwap(modelsDir: string): void {
  writeNet(swapModelPath(modelsDir), (g) => {
    const t = g.input('target', [1, 3, 128, 128]);
    const s = g.input('source', [1, D]);
    const pick = new Float32Array(D * 3);
    for (let c = 0; c < 3; c++) pick[c * 3 + c] = 1; // rows 0..2 → channels 0..2
    const colour = g.op('Reshape', [
      g.op('MatMul', [s, g.constFloat(pick, [D, 3])]),
      g.constInt64([1, 3, 1, 1]),
    ]);
    const y = g.op('Add', [
      g.op('Mul', [t, g.scalar(0)]),
      g.op('Add', [g.op('Mul', [colour, g.scalar(0.5)]), g.scalar(0.5)]),
    ]);
    g.output('output', y, [1, 3, 128, 128]);
    g.constFloat(shiftEmap(), [D, D]);
  });
}

/** ArcFace-shaped net: [1,3,112,112] → mean colour per channel → [1,512] by a fixed projection. */
export function installArcface(modelsDir: string): void {
  writeNet(arcfacePath(modelsDir), (g) => {
    const x = g.input('input.1', [1, 3, 112, 112]);
    const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])]);
    const w = new Float32Array(3 * D);
    for (let i = 0; i < 3 * D; i++) w[i] = Math.sin(i * 12.9898) * 0.5;
    g.output('683', g.op('MatMul', [pooled, g.constFloat(w, [3, D])]), [1, D]);
  });
}
