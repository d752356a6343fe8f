// ThreadRunner: the pipelines run on a worker thread, so the server's event loop keeps running during a
// generation; results equal the in-process runner's; cancellation crosses the thread boundary.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { ModelManager } from '../../../../src/engine/model-manager.ts';
import { InProcessRunner, type RunRequest } from '../../../../src/engine/pipeline-runner.ts';
import { ThreadRunner } from '../../../../src/engine/thread-runner.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { samplePhotoPath } from '../../post/faces/images.ts';
import { installArcface, installSwap } from '../../post/faces/tiny-nets.ts';
import { GRAPH_CACHE, tempDir } from './helpers.ts';

const options = { cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } };
const thread = new ThreadRunner(options);
const local = new InProcessRunner(new ModelManager(options));
after(async () => {
  await thread.close();
  await local.close();
});

const request = (steps: number): RunRequest => ({
  spec: {
    key: 'tiny',
    path: fixturePath('sd-reference', 'model'),
    tokenizerDir: fixturePath('clip-tokenizer'),
  },
  loras: [],
  options: {
    text: 'a photo of a cat',
    negativePrompt: '',
    numImages: 2,
    width: 128,
    height: 128,
    seed: 3,
    steps,
    cfgScale: 7.5,
    sampler: 'euler_a',
  },
});

test('same request, same bytes on the worker thread and in process; main-thread timers run meanwhile', async () => {
  let ticks = 0;
  let generating = true;
  const tick = () => {
    ticks++;
    if (generating) setImmediate(tick);
  };
  const pending = thread.run(request(3), new AbortController().signal, () => {});
  setImmediate(tick);
  const a = await pending;
  generating = false;
  const b = await local.run(request(3), new AbortController().signal, () => {});
  assert.equal(a.rgb.length, 2);
  assert.deepEqual(a.rgb, b.rgb);
  assert.ok(ticks > 1, `the event loop turned ${ticks} times during the threaded generation`);
});

test('cancellation reaches the worker between steps and rejects with the caller’s reason', async () => {
  const ac = new AbortController();
  const steps: number[] = [];
  const reason = new Error('user cancelled');
  await assert.rejects(
    thread.run(request(5), ac.signal, (p) => {
      if (p.phase !== 'denoising') return;
      steps.push(p.step);
      if (p.step === 1) ac.abort(reason);
    }),
    (e) => e === reason,
  );
  assert.ok(steps.length < 5, `ran ${steps.length} of 5 steps`);
});

test('face_swap crosses the thread: the training images go in, the tune identity comes back (same as in process)', async () => {
  const modelsDir = tempDir('thread-swap');
  try {
    installSwap(modelsDir);
    installArcface(modelsDir);
    const images = [1, 3].map((n) => new Uint8Array(readFileSync(samplePhotoPath(n as 1 | 3))));
    const req = (): RunRequest => ({
      ...request(2),
      options: { ...request(2).options, numImages: 1, width: 64, height: 64 },
      post: { face_swap: true },
      modelsDir,
      faceSwapSource: { key: 'k', images },
    });
    const phases: string[] = [];
    const a = await thread.run(req(), new AbortController().signal, (p) => phases.push(p.phase));
    const b = await local.run(req(), new AbortController().signal, () => {});
    assert.ok(phases.includes('face_swap'));
    assert.equal(a.faceIdentity?.key, 'k');
    assert.equal(a.faceIdentity?.identity.length, 512);
    assert.deepEqual(a.faceIdentity, b.faceIdentity);
    assert.deepEqual(a.rgb, b.rgb);
  } finally {
    rmSync(modelsDir, { recursive: true, force: true });
  }
});
