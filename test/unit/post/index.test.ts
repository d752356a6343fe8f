import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkPostParams,
  isSuperResolutionInstalled,
  type PostProgress,
  PostStageUnavailableError,
  planPostStages,
  runPostStages,
} from '../../../src/post/index.ts';
import type { PostStage, RawImage } from '../../../src/post/types.ts';

const img: RawImage = { data: new Uint8Array(8 * 8 * 3).fill(128), width: 8, height: 8, channels: 3 };

/** A ×2 nearest-neighbour stand-in for the SR network: enough to observe ordering and sizes. */
const fakeSr: PostStage = {
  name: 'super_resolution',
  async run(i, ctx) {
    ctx.onProgress?.(0, 2);
    const data = new Uint8Array(i.width * i.height * 4 * i.channels);
    for (let y = 0; y < i.height * 2; y++)
      for (let x = 0; x < i.width * 2; x++)
        for (let c = 0; c < i.channels; c++)
          data[(y * i.width * 2 + x) * i.channels + c] =
            i.data[((y >> 1) * i.width + (x >> 1)) * i.channels + c];
    ctx.onProgress?.(2, 2);
    return { ...i, data, width: i.width * 2, height: i.height * 2 };
  },
};

test('stages run in the documented order', () => {
  const names = planPostStages(
    { seed: 1, super_resolution: true, hires_fix: true, color_grading: 'Ektar', film_grain: true },
    { superResolution: fakeSr, img2img: { img2img: async (r) => r.image } },
  ).map((s) => s.name);
  assert.deepEqual(names, ['super_resolution', 'hires_fix', 'color_grading', 'film_grain']);
});

test('nothing requested: no stages and the image comes back unchanged', async () => {
  assert.deepEqual(planPostStages({ seed: 1, color_grading: null, film_grain: false }), []);
  assert.equal(await runPostStages(img, { seed: 1 }), img);
});

test('requested operations that cannot run are rejected with the field, never skipped', () => {
  const cases: Array<[Parameters<typeof planPostStages>[0], string, RegExp]> = [
    [{ seed: 1, super_resolution: true }, 'super_resolution', /no super-resolution model/],
    [{ seed: 1, hires_fix: true }, 'hires_fix', /requires super_resolution/],
    [{ seed: 1, inpaint_faces: true }, 'inpaint_faces', /requires super_resolution/],
    [{ seed: 1, super_resolution: true, hires_fix: true }, 'hires_fix', /img2img/],
    [{ seed: 1, face_correct: true }, 'face_correct', /face detector .*faces\/restore\.onnx/],
    [{ seed: 1, face_swap: true }, 'face_swap', /faces\/swap\.onnx.*faces\/arcface\.onnx/],
    [{ seed: 1, color_grading: 'Kodachrome' }, 'color_grading', /unknown color_grading/],
  ];
  for (const [params, field, message] of cases) {
    assert.throws(
      () => planPostStages(params, { superResolution: params.hires_fix ? fakeSr : undefined }),
      (e: unknown) => e instanceof PostStageUnavailableError && e.field === field && message.test(e.message),
      `${JSON.stringify(params)} → ${field}`,
    );
  }
});

test('runPostStages chains stages, passes the seed, and reports overall progress up to 1', async () => {
  const events: PostProgress[] = [];
  const out = await runPostStages(
    img,
    { seed: 77, super_resolution: true, color_grading: 'Film Portra', film_grain: true },
    { providers: { superResolution: fakeSr }, onProgress: (p) => events.push(p) },
  );
  assert.equal(out.width, 16);
  assert.equal(out.height, 16);
  assert.deepEqual(
    [...new Set(events.map((e) => e.stage))],
    ['super_resolution', 'color_grading', 'film_grain'],
  );
  for (let i = 1; i < events.length; i++) assert.ok(events[i].fraction >= events[i - 1].fraction);
  assert.equal(events.at(-1)?.fraction, 1);
  // Same seed → same grain → identical output.
  const again = await runPostStages(
    img,
    { seed: 77, super_resolution: true, color_grading: 'Film Portra', film_grain: true },
    { providers: { superResolution: fakeSr } },
  );
  assert.deepEqual(again.data, out.data);
});

test('an aborted signal stops before the next stage', async () => {
  const ctrl = new AbortController();
  ctrl.abort();
  await assert.rejects(runPostStages(img, { seed: 1, film_grain: true }, { signal: ctrl.signal }), {
    name: 'AbortError',
  });
});

test('checkPostParams validates from capabilities alone, as the API does at create time', () => {
  const all = { superResolution: true, img2img: true };
  checkPostParams(
    { seed: 1, super_resolution: true, hires_fix: true, color_grading: 'Ektar', film_grain: true },
    all,
  );
  checkPostParams({ seed: 1, color_grading: '' }, { superResolution: false, img2img: false });
  assert.throws(
    () => checkPostParams({ seed: 1, super_resolution: true }, { superResolution: false, img2img: true }),
    (e: unknown) => e instanceof PostStageUnavailableError && e.field === 'super_resolution',
  );
  assert.throws(
    () =>
      checkPostParams(
        { seed: 1, super_resolution: true, hires_fix: true },
        { superResolution: true, img2img: false },
      ),
    (e: unknown) => e instanceof PostStageUnavailableError && e.field === 'hires_fix',
  );
});

test('the ESRGAN package is detected as installed (it is a dependency)', () => {
  assert.equal(isSuperResolutionInstalled(), true);
});
