// Structure of the training graph: only what lies between the LoRA matrices and the loss is differentiated.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open.ts';
import { AutodiffError, appendBackward } from '../../../src/engine/graph/autodiff.ts';
import { builderIr, inferShapes } from '../../../src/engine/graph/autodiff-ir.ts';
import { GraphBuilder } from '../../../src/engine/graph/builder.ts';
import { unetConfigFromJson } from '../../../src/engine/models/unet.ts';
import { buildLoraTrainingGraph, gradOutputName } from '../../../src/train/training-graph.ts';
import { MODEL_DIR } from '../engine/parity.ts';

const count = (g: GraphBuilder, op: string) => builderIr(g).nodes.filter((n) => n.opType === op).length;

it('adds no weight-gradient convolutions, no gradients of frozen weights and none for the timestep path', () => {
  const ck = openCheckpoint(MODEL_DIR());
  const un = ck.unet;
  assert.ok(un?.configJson);
  const { builder, loras } = buildLoraTrainingGraph(
    un.source,
    unetConfigFromJson(un.configJson),
    { rank: 4, alpha: 4, includeFeedForward: false },
    { batch: 1, height: 8, width: 8, tokens: 77 },
  );
  ck.close();
  // forward: one Conv per conv layer; backward: ConvTranspose for input gradients only
  const convLayers = un.source
    .names()
    .filter((n) => n.endsWith('.weight') && un.source.shape(n).length === 4);
  assert.equal(count(builder, 'Conv'), convLayers.length);
  assert.ok(count(builder, 'ConvTranspose') > 0);
  assert.equal(count(builder, 'Sin'), 1);
  assert.equal(count(builder, 'Cos'), 1);
  const outputs = builderIr(builder).outputs.map((o) => o.name);
  assert.equal(outputs.filter((o) => o.startsWith('grad.')).length, 2 * loras.length);
  assert.ok(outputs.includes(gradOutputName(loras[0].down)));
  assert.ok(!outputs.some((o) => o.startsWith('grad.') && !o.includes('lora_')));
});

it('names the op when a gradient rule is missing', () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', [2, 3]);
  const y = g.op('HardSwish', [x]);
  const loss = g.op('ReduceSum', [y], { keepdims: 0 });
  const shapes = inferShapes(new GraphBuilder('empty'), {});
  shapes.dims.set('x', [2, 3]).set(y, [2, 3]).set(loss, []);
  assert.throws(() => appendBackward(g, { loss, wrt: ['x'], shapes }), AutodiffError);
  assert.throws(() => appendBackward(g, { loss, wrt: ['x'], shapes }), /no gradient rule for HardSwish/);
});
