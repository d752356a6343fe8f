// ControlNet under the ModelManager (docs/conditioning.md "Wiring"): the ControlNet session and the
// residual-input UNet are one cached entry per (base model, LoRA set, ControlNet), built once under concurrency,
// reused by the next controlnet prompt, evicted before the plain model they lease; and ControlNet + LoRA end to
// end through SdGenerator on the tiny fixtures (the LoRA reaches the residual-input UNet and changes the image).

import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { GenerationRequest } from '../../../src/domain/ports.ts';
import { controlnetDir } from '../../../src/engine/conditioning.ts';
import { GraphBuilder } from '../../../src/engine/graph/builder.ts';
import { type LoraRef, ModelManager, modelBytes } from '../../../src/engine/model-manager.ts';
import { generateWithControl } from '../../../src/engine/pipeline/controlnet.ts';
import { InProcessRunner } from '../../../src/engine/pipeline-runner.ts';
import { SdGenerator } from '../../../src/engine/sd-generator.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { generationRequest } from '../../helpers/generation-request.ts';
import { GRAPH_CACHE, tempDir } from './pipeline/helpers.ts';

const CONTROLNET = () => fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors');
const LORA = () => fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors');
const spec = (key = 'tiny') => ({
  key,
  path: fixturePath('sd-reference', 'model'),
  tokenizerDir: fixturePath('clip-tokenizer'),
  defaultSteps: 2,
});
const session = { intraOpThreads: 1 };

test('concurrent controlnet acquisitions open the ControlNet and the residual-input UNet once; the next prompt reuses them', async () => {
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session });
  try {
    const [a, b] = await Promise.all([
      mm.acquireControlled(spec(), [], { controlnetPath: CONTROLNET() }),
      mm.acquireControlled(spec(), [], { controlnetPath: CONTROLNET() }),
    ]);
    assert.equal(a.model, b.model);
    assert.deepEqual(
      [mm.stats().baseLoads, mm.stats().controlLoads],
      [1, 1],
      'one base model, one controlled model',
    );
    // the controlled model shares the plain model's sessions and adds its own two
    const plain = await mm.acquire(spec());
    assert.equal(plain.reused, true);
    assert.equal(a.model.unet, plain.model.unet);
    assert.equal(a.model.vae, plain.model.vae);
    assert.notEqual(a.model.controlUnet, plain.model.unet);
    plain.release();
    a.release();
    b.release();
    const c = await mm.acquireControlled(spec(), [], { controlnetPath: CONTROLNET() });
    assert.equal(c.reused, true);
    assert.equal(c.model, a.model);
    c.release();
    assert.deepEqual([mm.stats().baseLoads, mm.stats().controlLoads], [1, 1], 'nothing reopened');
    assert.equal(mm.stats().loadedKeys.length, 2);
  } finally {
    await mm.close();
  }
});

test('a LoRA set makes its own controlled entry; scale-0 LoRAs do not', async () => {
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session });
  const lora: LoraRef = { id: 'kohya', path: LORA(), scale: 1 };
  try {
    const plain = await mm.acquireControlled(spec(), [], { controlnetPath: CONTROLNET() });
    const zero = await mm.acquireControlled(spec(), [{ ...lora, scale: 0 }], {
      controlnetPath: CONTROLNET(),
    });
    assert.equal(zero.model, plain.model);
    const withLora = await mm.acquireControlled(spec(), [lora], { controlnetPath: CONTROLNET() });
    assert.notEqual(withLora.model.controlUnet, plain.model.controlUnet);
    assert.deepEqual([mm.stats().baseLoads, mm.stats().loraLoads, mm.stats().controlLoads], [1, 1, 2]);
    for (const l of [plain, zero, withLora]) l.release();
  } finally {
    await mm.close();
  }
});

test('under the memory budget the idle controlled entry is evicted (its sessions disposed) before the plain model it leases', async () => {
  const one = modelBytes(fixturePath('sd-reference', 'model'));
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session, memoryBudgetBytes: Math.floor(one * 1.5) });
  try {
    const a = await mm.acquireControlled(spec('a'), [], { controlnetPath: CONTROLNET() });
    a.release();
    assert.equal(mm.stats().loadedKeys.length, 2);
    const b = await mm.acquire(spec('b'));
    b.release();
    assert.deepEqual(mm.stats().loadedKeys, ['b']);
    assert.equal(mm.stats().evictions, 2, 'the controlled entry, then the plain model it no longer leases');
    const zeros = (...dims: number[]) => ({ data: new Float32Array(dims.reduce((x, d) => x * d)), dims });
    await assert.rejects(
      () => a.model.controlnet.residuals(zeros(1, 4, 8, 8), 1, zeros(1, 77, 32), zeros(1, 3, 64, 64), 1),
      /disposed/,
    );
    await assert.rejects(() => a.model.clip.encode(new Int32Array(77)), /disposed/);
  } finally {
    await mm.close();
  }
});

test('a checkpoint that is not a ControlNet is refused before anything loads', async () => {
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session });
  try {
    await assert.rejects(
      mm.acquireControlled(spec(), [], {
        controlnetPath: fixturePath('sd-reference', 'checkpoint', 'tiny-sd15-public.safetensors'),
      }),
      /not a ControlNet/,
    );
    assert.deepEqual([mm.stats().baseLoads, mm.stats().controlLoads], [0, 0]);
  } finally {
    await mm.close();
  }
});

test('a network type keeps its annotator open with the controlled model (the next prompt reuses it); a changed annotator.json is a new entry', async () => {
  const dir = tempDir('cnann');
  const g = new GraphBuilder('tiny-depth'); // luminance as "depth": enough to exercise the annotator path
  const x = g.input('image', [1, 3, 'h', 'w']);
  const w = g.constFloat([0.2, 0.7, 0.1], [1, 3, 1, 1]);
  g.output('depth', g.op('ReduceSum', [g.op('Mul', [x, w]), g.constInt64([1])], { keepdims: 1 }), [
    1,
    1,
    'h',
    'w',
  ]);
  g.emit(dir);
  renameSync(join(dir, 'model.onnx'), join(dir, 'annotator.onnx'));
  const networks = { controlnetPath: CONTROLNET(), annotatorDir: dir };
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session });
  try {
    const a = await mm.acquireControlled(spec(), [], networks);
    assert.ok(a.model.annotator);
    a.release();
    const b = await mm.acquireControlled(spec(), [], networks);
    assert.equal(b.reused, true);
    assert.equal(b.model.annotator, a.model.annotator);
    const img = { data: new Float32Array(8 * 8 * 3).fill(0.5), dims: [1, 8, 8, 3] };
    const out = await generateWithControl(
      b.model,
      { type: 'depth', txt2img: true, ...networks },
      {
        text: 'a cat',
        negativePrompt: '',
        numImages: 1,
        width: 64,
        height: 64,
        seed: 1,
        steps: 1,
        cfgScale: 1,
        initImage: { data: new Float32Array(64 * 64 * 3).fill(0.5), dims: [1, 64, 64, 3] },
      },
    );
    assert.deepEqual(out.images.dims, [1, 64, 64, 3]);
    assert.deepEqual((await b.model.annotator?.run(img, 'clamp'))?.dims, [1, 8, 8, 3]);
    b.release();
    assert.equal(mm.stats().controlLoads, 1);
    writeFileSync(join(dir, 'annotator.json'), JSON.stringify({ invert: true }));
    const c = await mm.acquireControlled(spec(), [], networks);
    assert.equal(c.reused, false);
    assert.notEqual(c.model.annotator, a.model.annotator);
    c.release();
    assert.equal(mm.stats().controlLoads, 2);
  } finally {
    await mm.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe_controlnet_lora();

function describe_controlnet_lora() {
  let modelsDir: string;
  let mm: ModelManager;
  let gen: SdGenerator;
  before(() => {
    modelsDir = tempDir('cnlora');
    const d = controlnetDir(modelsDir, 'canny');
    mkdirSync(d, { recursive: true });
    symlinkSync(CONTROLNET(), join(d, 'canny.safetensors'));
    mm = new ModelManager({ cacheDir: GRAPH_CACHE, session });
    gen = new SdGenerator(
      new InProcessRunner(mm, { cacheDir: GRAPH_CACHE, session }),
      {
        baseModel: async () => spec(),
        loraFile: async (tuneId) => (tuneId === 7 ? { id: 'kohya', path: LORA() } : null),
      },
      { format: 'png', modelsDir },
    );
  });
  after(async () => {
    await gen.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  const request = (input: Buffer, over: Partial<GenerationRequest> = {}): GenerationRequest =>
    generationRequest({ seed: 3, controlnet: 'canny', controlnetTxt2img: true, inputImage: input, ...over });
  const loraTune = { id: 7, branch: 'sd15', modelType: 'lora', token: 'ohwx', name: 'cat', weightsKey: 'w' };
  const run = async (req: GenerationRequest) => {
    const r = await gen.generate(req, { signal: new AbortController().signal });
    return new Uint8Array(await sharp(r.images[0].data).removeAlpha().raw().toBuffer());
  };
  const meanAbsDiff = (x: Uint8Array, y: Uint8Array) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
    return s / x.length;
  };

  test('ControlNet + LoRA: a LoRA tune with canny generates, the LoRA changes the image, the next prompt reuses everything', async () => {
    const n = 64;
    const px = Buffer.alloc(n * n * 3);
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        const o = (y * n + x) * 3;
        const inDisc = (x - 32) ** 2 + (y - 32) ** 2 < 16 ** 2;
        px[o] = inDisc ? 240 : x * 4;
        px[o + 1] = inDisc ? 230 : 80;
        px[o + 2] = inDisc ? 50 : y * 4;
      }
    const input = await sharp(px, { raw: { width: n, height: n, channels: 3 } })
      .png()
      .toBuffer();
    const base = await run(request(input));
    const lora = await run(request(input, { tune: loraTune }));
    assert.equal(lora.length, 64 * 64 * 3);
    assert.ok(
      meanAbsDiff(base, lora) > 0.5,
      `the LoRA changes the controlled image (${meanAbsDiff(base, lora)})`,
    );
    // lora_scale 0 switches the LoRA off: the same image as without it
    const off = await run(request(input, { tune: loraTune, loraScale: 0 }));
    assert.deepEqual(off, base);
    const before = mm.stats();
    const again = await run(request(input, { tune: loraTune }));
    assert.deepEqual(again, lora, 'same seed, same bytes');
    const now = mm.stats();
    assert.deepEqual(
      [now.baseLoads, now.loraLoads, now.controlLoads],
      [before.baseLoads, before.loraLoads, before.controlLoads],
      'a second controlnet prompt opens nothing',
    );
    assert.deepEqual([now.baseLoads, now.loraLoads, now.controlLoads], [1, 1, 2]);
  });
}
