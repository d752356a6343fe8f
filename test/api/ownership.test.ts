// A second account can neither read, list, change nor delete the first account's tunes, prompts or images:
// every route answers 404 exactly as for a missing id, and nothing changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { completedPrompt, type Harness, harness, trainedTune } from './helpers.ts';

let h: Harness;
let tuneId: number;
let promptId: number;
before(async () => {
  h = await harness();
  tuneId = (await trainedTune(h)).id;
  const p = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  promptId = p.json().id;
  await completedPrompt(h, `/prompts/${promptId}`);
});
after(() => h.close());

const asB = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  h.req({ method, url, payload, key: h.keyB });

test('without a key, or with a wrong or revoked key: 401 with a JSON error', async () => {
  for (const key of [null, 'sd_wrong']) {
    const r = await h.req({ method: 'GET', url: '/tunes', key });
    assert.equal(r.statusCode, 401);
    assert.equal(typeof r.json().error, 'string');
  }
  const lower = await h.app.inject({
    method: 'GET',
    url: '/tunes',
    headers: { authorization: `bearer ${h.keyA}` },
  });
  assert.equal(lower.statusCode, 200);
  const { revokeApiKey } = await import('../../src/store/accounts.ts');
  const { createApiKey } = await import('../../src/domain/keys.ts');
  const k = await createApiKey(h.rt.svc.db, { account: 'alice' });
  assert.equal((await h.req({ method: 'GET', url: '/tunes', key: k.key })).statusCode, 200);
  await revokeApiKey(h.rt.svc.db, String(k.row.id));
  assert.equal((await h.req({ method: 'GET', url: '/tunes', key: k.key })).statusCode, 401);
});

test("tunes: B cannot read, list, patch, delete or prompt A's tune", async () => {
  const missing = await asB('GET', '/tunes/999999');
  for (const [method, url, payload] of [
    ['GET', `/tunes/${tuneId}`],
    ['GET', `/tunes/${tuneId}.json`],
    ['PATCH', `/tunes/${tuneId}`, { tune: { title: 'stolen' } }],
    ['DELETE', `/tunes/${tuneId}`],
    ['GET', `/tunes/${tuneId}/prompts`],
    ['POST', `/tunes/${tuneId}/prompts`, { prompt: { text: 'ohwx man' } }],
  ] as const) {
    const r = await asB(method, url, payload);
    assert.equal(r.statusCode, 404, `${method} ${url}`);
    assert.deepEqual(Object.keys(r.json()).sort(), Object.keys(missing.json()).sort());
  }
  assert.deepEqual((await asB('GET', '/tunes')).json(), []);
  const still = (await h.req({ method: 'GET', url: `/tunes/${tuneId}` })).json();
  assert.notEqual(still.title, 'stolen');
});

test("prompts: B cannot read, list, cancel or delete A's prompt", async () => {
  for (const [method, url] of [
    ['GET', `/prompts/${promptId}`],
    ['GET', `/tunes/${tuneId}/prompts/${promptId}`],
    ['POST', `/prompts/${promptId}/cancel`],
    ['DELETE', `/prompts/${promptId}`],
    ['DELETE', `/tunes/${tuneId}/prompts/${promptId}`],
  ] as const) {
    assert.equal((await asB(method, url)).statusCode, 404, `${method} ${url}`);
  }
  assert.deepEqual((await asB('GET', '/prompts')).json(), []);
  assert.deepEqual((await asB('GET', `/prompts?tune_id=${tuneId}`)).json(), []);
  assert.equal((await h.req({ method: 'GET', url: `/prompts/${promptId}` })).json().status, 'completed');
});

test("B's own tune id does not unlock A's prompt through the nested path", async () => {
  const bTune = await trainedTune(h, {}, h.keyB);
  assert.equal((await asB('GET', `/tunes/${bTune.id}/prompts/${promptId}`)).statusCode, 404);
  // and A's prompt is not reachable under a tune it does not belong to, even for A
  assert.equal(
    (await h.req({ method: 'GET', url: `/tunes/${bTune.id}/prompts/${promptId}` })).statusCode,
    404,
  );
});

test("B cannot reference A's tune in a <lora:ID> tag", async () => {
  const bTune = await trainedTune(h, {}, h.keyB);
  const r = await asB('POST', `/tunes/${bTune.id}/prompts`, {
    prompt: { text: `ohwx man <lora:${tuneId}:1>` },
  });
  assert.equal(r.statusCode, 422);
  assert.ok(r.json().errors.text);
});

test('images: only a validly signed URL serves an image; changing the id or signature gives 404', async () => {
  const p = (await h.req({ method: 'GET', url: `/prompts/${promptId}` })).json();
  const path = new URL(p.images[0].url).pathname;
  assert.doesNotMatch(path, /\/prompts\/|\.json/);
  assert.match(path, /\.jpg$/);
  const ok = await h.app.inject({ method: 'GET', url: path });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['content-type'], 'image/jpeg');
  const [, , id, exp, file] = path.split('/');
  assert.equal(
    (await h.app.inject({ method: 'GET', url: `/images/${Number(id) + 1}/${exp}/${file}` })).statusCode,
    404,
  );
  assert.equal(
    (await h.app.inject({ method: 'GET', url: `/images/${id}/${Number(exp) + 1}/${file}` })).statusCode,
    404,
  );
  assert.equal((await h.app.inject({ method: 'GET', url: `/images/${id}/${exp}/x${file}` })).statusCode, 404);
  // an expired link is refused even with a valid signature
  const expired = h.rt.svc.signer.url('images', Number(id), 'image/jpeg', Date.now() - 30 * 24 * 3600 * 1000);
  assert.equal((await h.app.inject({ method: 'GET', url: new URL(expired).pathname })).statusCode, 404);
});
