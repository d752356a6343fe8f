// Tiny ONNX networks the face-stage tests install as operator models: built with the engine's GraphBuilder from
// constants only (no external weights file), written to the exact path the stage looks for.
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GraphBuilder, MODEL_FILE } from '../../../../src/engine/graph/builder.ts';

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
