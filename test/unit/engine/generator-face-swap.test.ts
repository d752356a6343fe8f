// face_swap through SdGenerator on the tiny random-weight SD 1.5 fixture (InProcessRunner): what it needs
// installed (the 422 text, through the domain's checkGeneration), the tune's identity computed from its training
// images (the face-api sample photos) with the installed embedding network, cached with the tune's files and
// reused. The swap itself on faces is covered by test/unit/post/faces/swap.test.ts (a random-weight SD image
// has no face: the stage runs and finds none).

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { checkGeneration } from '../../../src/domain/generation.ts';
import type { GenerationRequest } from '../../../src/domain/ports.ts';
import { ModelManager } from '../../../src/engine/model-manager.ts';
import { InProcessRunner } from '../../../src/engine/pipeline-runner.ts';
import { FACE_IDENTITY_FILE, type ModelResolver, SdGenerator } from '../../../src/engine/sd-generator.ts';
import { FastMockGenerator } from '../../../src/jobs/fast-generator.ts';
import { openFaceEmbedder } from '../../../src/post/faces/embedding.ts';
import { embedderKey, meanIdentity } from '../../../src/post/faces/swap.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { generationRequest } from '../../helpers/generation-request.ts';
import { noise, samplePhotoPath } from '../post/faces/images.ts';
import { installArcface, installSwap } from '../post/faces/tiny-nets.ts';
import { GRAPH_CACHE, tempDir } from './pipeline/helpers.ts';

let modelsDir: string;
let runner: InProcessRunner;
const files = new Map<string, Buffer>();
const trainingCalls: number[] = [];
let training: Record<number, Buffer[]> = {};

const resolver: ModelResolver = {
  baseModel: async () => ({
    key: 'tiny',
    path: fixturePath('sd-reference', 'model'),
    tokenizerDir: fixturePath('clip-tokenizer'),
    defaultSteps: 2,
  }),
  loraFile: async () => null,
  async trainingImages(tuneId) {
    trainingCalls.push(tuneId);
    return training[tuneId] ?? [];
  },
  readTuneFile: async (tuneId, name) => files.get(`${tuneId}/${name}`),
  writeTuneFile: async (tuneId, name, data) => {
    files.set(`${tuneId}/${name}`, data);
  },
};

let gen: SdGenerator;
before(async () => {
  modelsDir = tempDir('genswap');
  runner = new InProcessRunner(new ModelManager({ cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } }), {
    cacheDir: GRAPH_CACHE,
    session: { intraOpThreads: 1 },
  });
  gen = new SdGenerator(runner, resolver, { format: 'png', modelsDir });
  training = {
    7: [readFileSync(samplePhotoPath(1)), readFileSync(samplePhotoPath(3))],
    8: [
      await sharp(noise(200, 200, 3).data, { raw: { width: 200, height: 200, channels: 3 } })
        .png()
        .toBuffer(),
    ],
  };
});
after(async () => {
  await gen.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

function request(tuneId: number, over: Partial<GenerationRequest> = {}): GenerationRequest {
  return generationRequest({
    tune: { id: tuneId, branch: 'sd15', modelType: 'lora', token: 'ohwx', name: 'man', weightsKey: null },
    text: 'a photo',
    seed: 3,
    faceSwap: true,
    ...over,
  });
}

const run = (req: GenerationRequest, phases: string[] = []) =>
  gen.generate(req, { signal: new AbortController().signal, onProgress: (e) => phases.push(e.phase) });

test('not installed: face_swap is not offered and the 422 names both networks, then the one still missing', async () => {
  const engines = { generators: [gen], trainers: [] };
  assert.ok(!gen.capabilities().features.includes('face_swap'));
  const r = checkGeneration(engines, 'sd15', { text: 'x', face_swap: true });
  assert.ok('errors' in r);
  const why = r.errors.face_swap.join(' ');
  assert.match(why, /faces\/swap\.onnx/);
  assert.match(why, /faces\/arcface\.onnx/);
  await assert.rejects(run(request(7)), /swap\.onnx.*arcface\.onnx/);
  installSwap(modelsDir);
  const r2 = checkGeneration(engines, 'sd15', { text: 'x', face_swap: true });
  assert.ok('errors' in r2);
  assert.doesNotMatch(r2.errors.face_swap.join(' '), /swap\.onnx/);
  assert.match(r2.errors.face_swap.join(' '), /arcface\.onnx/);
});

test("installed: the identity is the mean over the tune's training faces, computed once and cached with the tune", async () => {
  installSwap(modelsDir);
  installArcface(modelsDir);
  assert.ok(gen.capabilities().features.includes('face_swap'));
  assert.deepEqual(
    checkGeneration({ generators: [gen], trainers: [] }, 'sd15', { text: 'x', face_swap: true }),
    {
      notes: [],
    },
  );
  trainingCalls.length = 0;
  const plain = await run(request(7, { faceSwap: false }));
  const phases: string[] = [];
  const swapped = await run(request(7), phases);
  assert.ok(phases.includes('face_swap'), phases.join(' '));
  assert.deepEqual(trainingCalls, [7]);
  // random-weight output has no face: the stage ran and left it as it was
  assert.deepEqual(swapped.images[0].data, plain.images[0].data);

  const cached = JSON.parse((files.get(`7/${FACE_IDENTITY_FILE}`) as Buffer).toString('utf8'));
  assert.equal(cached.key, embedderKey(modelsDir));
  const embedder = await openFaceEmbedder(modelsDir);
  try {
    const each = [];
    for (const b of training[7]) {
      const e = await embedder.embedLargest(b);
      assert.ok(e, 'a face in each sample photo');
      each.push(e.embedding);
    }
    const expected = meanIdentity(each);
    assert.equal(cached.identity.length, 512);
    for (let i = 0; i < 512; i++) assert.ok(Math.abs(cached.identity[i] - expected[i]) < 1e-5);
  } finally {
    await embedder.dispose();
  }

  // second prompt: the cached identity, the training images are not read again
  await run(request(7, { seed: 4 }));
  assert.deepEqual(trainingCalls, [7]);
});

test('a tune without training images, or whose images show no face, fails saying so', async () => {
  installSwap(modelsDir);
  installArcface(modelsDir);
  await assert.rejects(run(request(9)), /tune 9 has no training images/);
  await assert.rejects(run(request(8)), /no face was found in any of the tune's 1 training images/);
  assert.equal(files.has(`8/${FACE_IDENTITY_FILE}`), false);
});

test('branch=fast: face_swap and face_correct are recorded as mock notes, not applied', () => {
  const r = checkGeneration({ generators: [new FastMockGenerator()], trainers: [] }, 'fast', {
    text: 'x',
    face_swap: true,
    face_correct: true,
  });
  assert.deepEqual(r, {
    notes: ['mock: face_correct recorded, not applied', 'mock: face_swap recorded, not applied'],
  });
});

test('FaceID adapter not installed: no faceid feature, and a <faceid> tag is a 422 naming the adapter file', () => {
  const c = gen.capabilities();
  assert.ok(!c.features.includes('faceid'));
  assert.match(c.featureReasons?.faceid ?? '', /ip-adapter-faceid_sd15\.safetensors/);
  const r = checkGeneration({ generators: [gen], trainers: [] }, 'sd15', { text: 'x <faceid:12:0.7>' });
  assert.ok('errors' in r);
  assert.match(r.errors.text.join(' '), /ip-adapter-faceid_sd15\.safetensors/);
});
