// End to end per image-prompt adapter on the tiny random-weight fixture model: tiny random adapters in the
// published layouts (test/helpers/tiny-ip-adapter.ts) are installed into a temporary models dir, the availability
// registry offers them, and generateWithAdapter (what the runner calls) generates with them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Tensor } from '../../../src/engine/components.ts';
import { adapterAvailability, conditioningAvailability } from '../../../src/engine/conditioning.ts';
import { type LoadedSdModel, ModelManager } from '../../../src/engine/model-manager.ts';
import {
  type AdapterRequest,
  faceIdLora,
  generateWithAdapter,
  openAdapter,
  openAdapterModel,
  runWithAdapter,
} from '../../../src/engine/pipeline/ip-adapter.ts';
import { runPipeline } from '../../../src/engine/pipeline/registry.ts';
import { arcfacePath } from '../../../src/post/faces/embedding.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { writeTinyArcface } from '../../helpers/tiny-arcface.ts';
import { writeTinyAdapter, writeTinyImageEncoder } from '../../helpers/tiny-ip-adapter.ts';
import { MODEL_DIR } from './parity.ts';
import { GRAPH_CACHE, maxAbsDiff, openFixtureModel } from './pipeline/helpers.ts';

let modelsDir: string;
let base: LoadedSdModel;
const load = { cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } };

function picture(seed: number): Tensor {
  const n = 64;
  const data = new Float32Array(n * n * 3);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++)
      for (let c = 0; c < 3; c++)
        data[(y * n + x) * 3 + c] =
          (Math.sin((x + 1) * (c + seed) * 0.21) * Math.cos(y * 0.13 * seed) + 1) / 2;
  return { data, dims: [1, n, n, 3] };
}

const req = {
  text: 'a photo of a cat',
  negativePrompt: '',
  numImages: 2,
  width: 64,
  height: 64,
  seed: 5,
  steps: 2,
  cfgScale: 5,
  sampler: 'euler' as const,
  denoisingStrength: 0.5,
};

before(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'atelier-ip-e2e-'));
  base = await openFixtureModel();
  writeTinyImageEncoder(modelsDir);
  for (const k of ['ipadapter', 'reference', 'composition', 'faceid'] as const)
    writeTinyAdapter(modelsDir, k, base.unet.config);
});
after(async () => {
  await base.dispose();
  rmSync(modelsDir, { recursive: true, force: true });
});

describe('IP-Adapter types end to end on the tiny model', () => {
  for (const type of ['ipadapter', 'reference', 'composition'] as const) {
    it(`${type}: available; scale 0 is plain txt2img; the image prompt changes the result; img2img mode`, async () => {
      const status = conditioningAvailability(modelsDir).find((s) => s.type === type);
      assert.ok(status?.available, `${type}: ${status?.reason}`);
      const adapter: AdapterRequest = {
        type,
        adapterPath: status.adapterPath as string,
        imageEncoderDir: status.imageEncoderDir,
        txt2img: true,
      };
      const gen = (over: Partial<AdapterRequest>, image = picture(1)) =>
        generateWithAdapter(base, MODEL_DIR(), { ...adapter, ...over }, { ...req, initImage: image }, load);
      const plain = await runPipeline(base, req);
      const zero = await gen({ scale: 0 });
      assert.ok(maxAbsDiff(zero.images.data, plain.images.data) < 1e-4, 'scale 0 = no adapter');
      const one = await gen({ scale: 1 });
      assert.ok(maxAbsDiff(one.images.data, plain.images.data) > 1e-3, 'the adapter changes the image');
      const other = await gen({ scale: 1 }, picture(3));
      assert.ok(
        maxAbsDiff(one.images.data, other.images.data) > 1e-4,
        'another image prompt, another result',
      );
      const again = await gen({ scale: 1 });
      assert.deepEqual(again.images.data, one.images.data, 'deterministic');
      // one open adapter serves runs with any scale and image (what a model cache keeps)
      const opened = await openAdapterModel(base, MODEL_DIR(), adapter, load);
      try {
        const run = (scale: number) =>
          runWithAdapter(base, opened, { ...adapter, scale }, { ...req, initImage: picture(1) });
        assert.deepEqual((await run(1)).images.data, one.images.data);
        assert.deepEqual((await run(0)).images.data, zero.images.data);
      } finally {
        await opened.dispose();
      }
      const i2i = await gen({ scale: 1, txt2img: false });
      assert.equal(i2i.stepLatents.length, 1); // floor(2 * 0.5): img2img from the input image
      assert.equal(one.stepLatents.length, 2);
    });
  }

  it('faceid: needs the ArcFace network; merges its LoRA; the identity and its weight steer the image', async () => {
    assert.match(adapterAvailability(modelsDir, 'faceid').install ?? '', /arcface\.onnx/);
    writeTinyArcface(arcfacePath(modelsDir));
    const a = adapterAvailability(modelsDir, 'faceid');
    assert.ok(a.available, a.reason);
    const opened = openAdapter(a.adapterPath);
    try {
      assert.equal(opened.config.projection, 'faceid-mlp');
      const lora = faceIdLora(opened.source, base.unet.config);
      assert.equal(lora.layers.length, 4 * 2 * opened.config.layers.length); // q,k,v,out on attn1 and attn2
      assert.ok(lora.layers.some((l) => l.target.endsWith('.attn1.to_out.0.weight')));
    } finally {
      opened.file.close();
    }
    const face = (k: number) => {
      const e = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * k));
      const n = Math.hypot(...e);
      return e.map((x) => x / n);
    };
    const gen = (emb: Float32Array[], scale: number) =>
      generateWithAdapter(
        base,
        MODEL_DIR(),
        { type: 'faceid', adapterPath: a.adapterPath, faceEmbeddings: emb, scale, txt2img: false },
        req,
        load,
      );
    const one = await gen([face(1)], 1);
    const other = await gen([face(2)], 1);
    const weak = await gen([face(1)], 0.3);
    assert.ok(maxAbsDiff(one.images.data, other.images.data) > 1e-4, 'another identity, another image');
    assert.ok(maxAbsDiff(one.images.data, weak.images.data) > 1e-4, 'the weight is the adapter scale');
    const twice = await gen([face(1), face(1)], 1);
    assert.ok(maxAbsDiff(one.images.data, twice.images.data) < 1e-5, 'several embeddings: their mean');
    await assert.rejects(gen([new Float32Array(12)], 1), /12 values, the FaceID adapter reads 512/);
  });

  it('the ModelManager keeps an open adapter: a second prompt reuses it and gets the same image', async () => {
    const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } });
    try {
      const spec = { key: 'tiny-sd15', path: MODEL_DIR(), tokenizerDir: fixturePath('clip-tokenizer') };
      const status = conditioningAvailability(modelsDir).find((s) => s.type === 'reference');
      const a: AdapterRequest = {
        type: 'reference',
        adapterPath: status?.adapterPath as string,
        imageEncoderDir: status?.imageEncoderDir,
        txt2img: true,
      };
      const once = async () => {
        const lease = await mm.acquireAdapted(spec, [], a);
        try {
          const out = await runWithAdapter(lease.model, lease.model.adapter, a, {
            ...req,
            initImage: picture(1),
          });
          return { out, reused: lease.reused };
        } finally {
          lease.release();
        }
      };
      const first = await once();
      const second = await once();
      assert.equal(first.reused, false);
      assert.equal(second.reused, true);
      assert.equal(mm.stats().adapterLoads, 1);
      assert.deepEqual(second.out.images.data, first.out.images.data);
    } finally {
      await mm.close();
    }
  });

  it('refuses an adapter of the wrong kind and a pickled file by name', async () => {
    const plus = conditioningAvailability(modelsDir).find((s) => s.type === 'reference');
    await assert.rejects(
      generateWithAdapter(
        base,
        MODEL_DIR(),
        {
          type: 'ipadapter',
          adapterPath: plus?.adapterPath as string,
          imageEncoderDir: plus?.imageEncoderDir,
          txt2img: true,
        },
        { ...req, initImage: picture(1) },
        load,
      ),
      /"resampler" adapter; "ipadapter" needs a "linear" one/,
    );
    assert.throws(() => openAdapter('/x/ip-adapter-faceid_sd15.bin'), /pickled/);
  });
});
