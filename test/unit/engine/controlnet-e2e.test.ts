// End to end per implemented controlnet type, on the tiny random-weight fixture model: install the fixture
// ControlNet into a temporary models dir as that type (plus a tiny ONNX annotator written here for a network
// type), ask the availability registry for it, preprocess an input image, open the controlled model and run
// the pipeline both ways (controlnet_txt2img true and false) through generateWithControl, the entry point the
// pipeline runner calls on ModelManager.acquireControlled's model (docs/conditioning.md "Wiring").
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Tensor } from '../../../src/engine/components.ts';
import {
  type ConditioningType,
  conditioningAvailability,
  controlnetDir,
} from '../../../src/engine/conditioning.ts';
import { GraphBuilder } from '../../../src/engine/graph/builder.ts';
import type { LoadedSdModel } from '../../../src/engine/model-manager.ts';
import {
  assertControlNetFits,
  generateWithControl,
  openControlledModel,
} from '../../../src/engine/pipeline/controlnet.ts';
import { preprocessControlImage } from '../../../src/engine/preprocess/index.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { MODEL_DIR } from './parity.ts';
import { GRAPH_CACHE, maxAbsDiff, openFixtureModel } from './pipeline/helpers.ts';

const TYPES: ConditioningType[] = ['canny', 'tile', 'qr', 'depth'];
let modelsDir: string;
let base: LoadedSdModel;

/** A 128 x 128 test picture with hard edges (a bright disc on a gradient) so canny has something to find. */
function picture(): Tensor {
  const n = 128;
  const data = new Float32Array(n * n * 3);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const inDisc = (x - 64) ** 2 + (y - 60) ** 2 < 30 ** 2;
      const o = (y * n + x) * 3;
      data[o] = inDisc ? 0.95 : x / n;
      data[o + 1] = inDisc ? 0.9 : 0.3;
      data[o + 2] = inDisc ? 0.2 : y / n;
    }
  return { data, dims: [1, n, n, 3] };
}

before(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'atelier-cne2e-'));
  const cn = fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors');
  for (const t of TYPES) {
    const d = controlnetDir(modelsDir, t);
    mkdirSync(d, { recursive: true });
    symlinkSync(cn, join(d, `${t}.safetensors`));
  }
  // a depth "annotator": luminance-weighted channel mix, enough to exercise the network path
  const g = new GraphBuilder('tiny-depth');
  const x = g.input('image', [1, 3, 'h', 'w']);
  const w = g.constFloat([0.2, 0.7, 0.1], [1, 3, 1, 1]);
  g.output('depth', g.op('ReduceSum', [g.op('Mul', [x, w]), g.constInt64([1])], { keepdims: 1 }), [
    1,
    1,
    'h',
    'w',
  ]);
  const d = controlnetDir(modelsDir, 'depth');
  g.emit(d);
  renameSync(join(d, 'model.onnx'), join(d, 'annotator.onnx'));
  base = await openFixtureModel();
});
after(async () => {
  await base.dispose();
  rmSync(modelsDir, { recursive: true, force: true });
});

describe('controlnet end to end on the tiny model', () => {
  for (const type of TYPES) {
    it(`${type}: available, preprocessed, generated with txt2img and img2img control`, async (t) => {
      const status = conditioningAvailability(modelsDir).find((s) => s.type === type);
      assert.ok(status?.available, `${type} should be available: ${status?.reason}`);
      const input = picture();
      const controlImage = await preprocessControlImage(type, input, { annotatorDir: status.annotatorDir });
      assert.deepEqual(controlImage.dims, [1, 128, 128, 3]);
      if (type === 'canny')
        assert.ok(controlImage.data.some((v) => v === 1) && controlImage.data.some((v) => v === 0));
      if (type === 'qr') assert.deepEqual([...controlImage.data], [...input.data]);
      if (type === 'tile') assert.ok(maxAbsDiff(controlImage.data, input.data) > 0.05);
      const load = { cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } };
      const req = {
        text: 'a photo of a cat',
        negativePrompt: '',
        numImages: 2,
        width: 128,
        height: 128,
        seed: 7,
        steps: 2,
        cfgScale: 5,
        sampler: 'euler_a' as const,
        initImage: input,
        denoisingStrength: 0.75,
      };
      const control = {
        type,
        controlnetPath: status.controlnetPath as string,
        annotatorDir: status.annotatorDir,
        scale: 0.8,
      };
      const controlled = await openControlledModel(base, MODEL_DIR(), control, load);
      t.after(() => controlled.dispose());
      const run = (txt2img: boolean, scale = 0.8) =>
        generateWithControl(controlled.model, { ...control, txt2img, scale }, req, load);
      const t2i = await run(true);
      const i2i = await run(false);
      assert.deepEqual(t2i.images.dims, [2, 128, 128, 3]);
      assert.equal(t2i.stepLatents.length, 2);
      assert.equal(i2i.stepLatents.length, 1); // floor(2 * 0.75)
      for (const out of [t2i, i2i]) for (const v of out.images.data) assert.ok(v >= 0 && v <= 1);
      assert.ok(maxAbsDiff(t2i.images.data, i2i.images.data) > 1e-2);
      // the control image steers the result
      const uncontrolled = await run(true, 0);
      assert.ok(maxAbsDiff(t2i.images.data, uncontrolled.images.data) > 1e-3);
    });
  }

  it('a ControlNet for another base model is refused before anything runs', () => {
    const cfg = base.unet.config;
    assert.throws(
      () =>
        assertControlNetFits(
          {
            ...cfg,
            inChannels: 4,
            conditioningChannels: 3,
            conditioningEmbeddingOutChannels: [16, 32, 96, 256],
            channelOrder: 'rgb',
            globalPoolConditions: false,
            crossAttentionDim: 768,
          },
          cfg,
        ),
      /cross-attention width 768 vs 32/,
    );
  });
});
