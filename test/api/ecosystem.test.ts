// Account, prompt likes, duplicate, PATCH, list filters, X-Workspace-Id and /cli/models (CLIENTS.md 19, 29, 38–40).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { completedPrompt, type Harness, harness, type Json } from './helpers.ts';

let h: Harness;
let tune: Json;
before(async () => {
  h = await harness({}, { worker: false }); // prompts stay queued unless a test says otherwise: PATCH needs that
  tune = await markedTrainedTune();
});
after(() => h.close());

/** The harness without a worker cannot train: mark a tune trained through the store, as a worker would. */
async function markedTrainedTune(): Promise<Json> {
  const { dataUrl } = await import('./helpers.ts');
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'eco', name: 'man', branch: 'fast', images } },
  });
  const { updateTune } = await import('../../src/store/tunes.ts');
  await updateTune(h.rt.svc.db, r.json().id, { status: 'trained', trained_at: new Date().toISOString() });
  return (await h.req({ method: 'GET', url: `/tunes/${r.json().id}` })).json();
}

const post = async (text: string, extra: Json = {}, key?: string) => {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tune.id}/prompts`,
    key,
    payload: { prompt: { text, num_images: 1, ...extra } },
  });
  assert.equal(r.statusCode, 201, r.body);
  return r.json();
};

test('GET /users is the account object', async () => {
  const u = (await h.req({ method: 'GET', url: '/users' })).json();
  assert.equal(Array.isArray(u), false);
  assert.equal(typeof u.id, 'number');
  assert.equal(u.name, 'alice');
  assert.ok('email' in u && 'usd_balance_mc' in u);
});

test('likes: POST likes (idempotent), DELETE unlikes, GET /prompts?liked filters; another account gets 404', async () => {
  const a = await post('ohwx man liked');
  const b = await post('ohwx man not liked');
  for (let i = 0; i < 2; i++) {
    const r = await h.req({ method: 'POST', url: `/prompts/${a.id}/likes` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().liked, true);
  }
  const liked = (await h.req({ method: 'GET', url: '/prompts?liked=true' })).json().map((p: Json) => p.id);
  assert.deepEqual(liked, [a.id]);
  const notLiked = (await h.req({ method: 'GET', url: '/prompts?liked=false' }))
    .json()
    .map((p: Json) => p.id);
  assert.ok(notLiked.includes(b.id) && !notLiked.includes(a.id));
  assert.equal((await h.req({ method: 'POST', url: `/prompts/${a.id}/likes`, key: h.keyB })).statusCode, 404);
  assert.deepEqual((await h.req({ method: 'GET', url: '/prompts?liked=true', key: h.keyB })).json(), []);
  const un = await h.req({ method: 'DELETE', url: `/prompts/${a.id}/likes` });
  assert.equal(un.json().liked, false);
  assert.deepEqual((await h.req({ method: 'GET', url: '/prompts?liked=true' })).json(), []);
});

test('duplicate: same parameters and seed, overrides win, on the same tune; 201', async () => {
  const src = await post('ohwx man original', { seed: 42, negative_prompt: 'blur', aspect_ratio: '3:2' });
  const r = await h.req({
    method: 'POST',
    url: `/prompts/${src.id}/duplicate`,
    payload: { prompt: { num_images: 3 } },
  });
  assert.equal(r.statusCode, 201, r.body);
  const d = r.json();
  assert.notEqual(d.id, src.id);
  assert.deepEqual(
    [d.tune_id, d.text, d.seed, d.negative_prompt, d.aspect_ratio, d.num_images],
    [tune.id, src.text, 42, 'blur', '3:2', 3],
  );
  const bad = await h.req({
    method: 'POST',
    url: `/prompts/${src.id}/duplicate`,
    payload: { text: 'no token' },
  });
  assert.equal(bad.statusCode, 422);
  assert.equal(
    (await h.req({ method: 'POST', url: `/prompts/${src.id}/duplicate`, key: h.keyB })).statusCode,
    404,
  );
});

test('PATCH /tunes/:id/prompts/:id: generation fields while queued (re-validated), callback and liked any time', async () => {
  const p = await post('ohwx man before');
  const r = await h.req({
    method: 'PATCH',
    url: `/tunes/${tune.id}/prompts/${p.id}`,
    payload: {
      prompt: { text: 'ohwx man after', num_images: 2, liked: 'true', callback: 'http://127.0.0.1:9/cb?a=1' },
    },
  });
  assert.equal(r.statusCode, 200, r.body);
  const got = r.json();
  assert.deepEqual(
    [got.text, got.num_images, got.liked, got.callback],
    ['ohwx man after', 2, true, 'http://127.0.0.1:9/cb?a=1'],
  );
  const invalid = await h.req({
    method: 'PATCH',
    url: `/prompts/${p.id}`,
    payload: { prompt: { num_images: 99 } },
  });
  assert.equal(invalid.statusCode, 422);
  const wrongTune = await h.req({
    method: 'PATCH',
    url: `/tunes/999/prompts/${p.id}`,
    payload: { liked: true },
  });
  assert.equal(wrongTune.statusCode, 404);
  // Once it runs, only liked/callback may change.
  const { Worker } = await import('../../src/jobs/worker.ts');
  const { promptJob } = await import('../../src/jobs/prompt-job.ts');
  const w = new Worker(
    h.rt.svc.queue,
    { prompt: promptJob(h.rt.svc) },
    { concurrency: 1, leaseMs: 2000, pollMs: 20 },
  );
  w.start();
  try {
    await completedPrompt(h, `/prompts/${p.id}`);
  } finally {
    await w.stop();
  }
  const late = await h.req({
    method: 'PATCH',
    url: `/prompts/${p.id}`,
    payload: { prompt: { text: 'ohwx man later' } },
  });
  assert.equal(late.statusCode, 409);
  const likeLate = await h.req({
    method: 'PATCH',
    url: `/prompts/${p.id}`,
    payload: { prompt: { liked: false } },
  });
  assert.equal(likeLate.json().liked, false);
});

test('GET /tunes honours name[] and name; GET /prompts honours text and tune_id', async () => {
  const byName = (await h.req({ method: 'GET', url: '/tunes?name[]=man&name[]=cat' })).json();
  assert.ok(byName.length >= 1 && byName.every((t: Json) => t.name === 'man'));
  assert.deepEqual((await h.req({ method: 'GET', url: '/tunes?name=cat' })).json(), []);
  await post('ohwx man with a very particular zebra');
  const zebra = (await h.req({ method: 'GET', url: `/prompts?text=ZEBRA&tune_id=${tune.id}` })).json();
  assert.equal(zebra.length, 1);
});

test('X-Workspace-Id is accepted and ignored; GET /cli/models is 404', async () => {
  const r = await h.req({ method: 'GET', url: '/tunes', headers: { 'x-workspace-id': '123' } });
  assert.equal(r.statusCode, 200);
  const m = await h.req({ method: 'GET', url: '/cli/models' });
  assert.equal(m.statusCode, 404);
  assert.match(String(m.headers['content-type']), /application\/json/);
});
