// The trainer's output read back by the generation side's LoRA reader (src/engine/checkpoint/lora.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { loraDelta, readKohyaLora, TargetIndex } from '../../../src/engine/checkpoint/lora.ts';
import { openCheckpoint } from '../../../src/engine/checkpoint/open.ts';
import { SafetensorsFile } from '../../../src/engine/checkpoint/safetensors.ts';
import { TorchGenerator } from '../../../src/engine/rng/torch-generator.ts';
import { initLoraParams, writeKohyaLora } from '../../../src/train/lora-file.ts';
import { loraLayout } from '../../../src/train/training-graph.ts';
import { MODEL_DIR } from '../engine/parity.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-lora-file-'));
after(() => rmSync(root, { recursive: true, force: true }));

it('a trained LoRA file is a kohya LoRA the engine maps onto every target layer', () => {
  const ck = openCheckpoint(MODEL_DIR());
  const source = ck.unet?.source;
  assert.ok(source);
  const loras = loraLayout(source, { rank: 4, alpha: 2, includeFeedForward: true });
  assert.equal(loras.length, 16 * 10);
  const params = initLoraParams(loras, 3);
  // init: down bounded by 1/sqrt(in), up zero
  for (const l of loras) {
    const bound = 1 / Math.sqrt(l.downDims[1]);
    assert.ok((params.get(l.down) as Float32Array).every((v) => Math.abs(v) <= bound));
    assert.ok((params.get(l.up) as Float32Array).every((v) => v === 0));
  }
  const gen = new TorchGenerator(5);
  for (const l of loras) params.set(l.up, gen.randn(l.upDims));
  const path = join(root, 'lora.safetensors');
  writeKohyaLora(path, loras, params);
  const file = SafetensorsFile.open(path);
  try {
    const layers = readKohyaLora(file, {
      unet: new TargetIndex(source.names()),
      text_encoder: new TargetIndex([]),
    });
    assert.deepEqual(
      layers.map((l) => l.target),
      loras.map((l) => `${l.module}.weight`),
    );
    const first = layers[0];
    assert.equal(first.rank, 4);
    assert.equal(first.alpha, 2);
    // the merged delta is (alpha/rank)·up·down, i.e. what the training graph's branch adds
    const delta = loraDelta(first, 1);
    const up = params.get(loras[0].up) as Float32Array;
    const down = params.get(loras[0].down) as Float32Array;
    const [outF, inF] = [loras[0].upDims[0], loras[0].downDims[1]];
    for (const [o, i] of [
      [0, 0],
      [outF - 1, inF - 1],
      [3, 7],
    ]) {
      let s = 0;
      for (let r = 0; r < 4; r++) s += up[o * 4 + r] * down[r * inF + i];
      assert.ok(Math.abs(delta[o * inF + i] - 0.5 * s) < 1e-6);
    }
    assert.equal(file.metadata.ss_network_dim, '4');
  } finally {
    file.close();
    ck.close();
  }
});
