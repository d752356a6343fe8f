// The seed document's own example requests, sent verbatim (modulo host and key), with its response shapes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  multipart,
  trainedTune,
  waitFor,
} from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('seed tune JSON: top-level images, steps and face_crop are taken (mock notes them); 201 with an integer id', async () => {
  const body = {
    tune: { title: 'Model Title', name: 'man', callback: 'https://example.com/callback_url', branch: 'fast' },
    images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()],
    steps: 500,
    face_crop: true,
  };
  const res = await h.req({ method: 'POST', url: '/tunes', payload: body });
  assert.equal(res.statusCode, 201, res.body);
  const t = res.json();
  assert.equal(typeof t.id, 'number');
  assert.equal(t.steps, 500);
  assert.equal(t.face_crop, true);
  const row = await h.rt.svc.db
    .selectFrom('tunes')
    .select('args')
    .where('id', '=', t.id)
    .executeTakeFirstOrThrow();
  assert.ok(
    JSON.parse(row.args).notes.includes('mock: face_crop recorded, not applied'),
    'recorded as not applied',
  );
  assert.equal(t.trained_at, null);
  assert.equal(t.orig_images.length, 4);
  assert.match(t.created_at, ISO);
  assert.equal(t.url, `http://atelier.test/tunes/${t.id}.json`);
  const trained = await waitFor(async () => {
    const g = (await h.req({ method: 'GET', url: `/tunes/${t.id}` })).json();
    return g.trained_at ? g : null;
  }, 'trained');
  assert.equal(trained.status, 'trained');
  assert.match(trained.trained_at, ISO);
});

test('seed tune JSON without branch falls back to the installed (fast) branch', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: 'Model Title 2', name: 'model name timestamp', callback: 'https://example.com/cb' },
      images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()],
      steps: 500,
      face_crop: true,
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().branch, 'fast');
});

test('seed Node.js form-data prompt: 201 with the seed create shape, then the retrieve shape', async () => {
  const tune = await trainedTune(h);
  const { payload, headers } = await multipart([
    ['prompt[text]', 'a painting of ohwx man in the style of Van Gogh'],
    ['prompt[negative_prompt]', 'old, blemish, wrinkles, mole'],
    ['prompt[super_resolution]', String(true)],
    ['prompt[face_correct]', String(true)],
    ['prompt[callback]', 'https://your-callback-url.com?prompt_id=1'],
  ]);
  const res = await h.req({ method: 'POST', url: `/tunes/${tune.id}/prompts`, payload, headers });
  assert.equal(res.statusCode, 201, res.body);
  const p = res.json();
  assert.equal(typeof p.id, 'number');
  assert.equal(p.callback, 'https://your-callback-url.com?prompt_id=1');
  assert.equal(p.text, 'a painting of ohwx man in the style of Van Gogh');
  assert.equal(p.negative_prompt, 'old, blemish, wrinkles, mole');
  for (const k of ['cfg_scale', 'steps', 'seed', 'trained_at', 'started_training_at'])
    assert.equal(p[k], null, k);
  assert.match(p.created_at, ISO);
  assert.match(p.updated_at, ISO);
  assert.equal(p.tune_id, tune.id);
  assert.equal(p.url, `http://atelier.test/tunes/${tune.id}/prompts/${p.id}.json`);
  assert.deepEqual(p.images, []);
  assert.equal(p.user_error, null);

  const done = await completedPrompt(h, `/tunes/${tune.id}/prompts/${p.id}`);
  assert.equal(done.status, 'completed');
  assert.equal(done.cfg_scale, 7.5);
  assert.equal(done.steps, 30);
  assert.equal(typeof done.seed, 'number');
  assert.match(done.trained_at, ISO);
  assert.match(done.started_training_at, ISO);
  assert.equal(done.images.length, done.num_images);
  assert.equal(typeof done.images[0].id, 'number');
  assert.match(done.images[0].url, /^http:\/\/atelier\.test\/images\/\d+\/\d+\/[\w-]+\.jpg$/);
  // super_resolution / face_correct cannot be honoured by the mock: recorded and labelled, not dropped.
  assert.ok(
    done.notes.some((n: string) => n.includes('super_resolution')),
    JSON.stringify(done.notes),
  );
  assert.ok(done.notes.some((n: string) => n.includes('face_correct')));
  assert.equal(done.super_resolution, true);
});

test('seed JSON prompt: {"prompt": {...}} with num_images and super_resolution', async () => {
  const tune = await trainedTune(h);
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tune.id}/prompts`,
    payload: {
      prompt: {
        text: 'ohwx man in professional attire',
        negative_prompt: 'casual, blurry',
        num_images: 4,
        super_resolution: true,
      },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const done = await completedPrompt(h, `/prompts/${res.json().id}`);
  assert.equal(done.status, 'completed');
  assert.equal(done.images.length, 4);
  assert.equal(done.num_images, 4);
});
