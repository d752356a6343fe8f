// Idempotency-Key on POST (API.md §5): same key + same body replays the first response; a different body is 409;
// keys are per account.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dataUrl, type Harness, harness, multipart, trainedTune } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

test('same key and body replays the first response without creating a second prompt', async () => {
  const t = await trainedTune(h);
  const send = (text: string, key = 'k-1') =>
    h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      headers: { 'idempotency-key': key },
      payload: { prompt: { text, num_images: 1 } },
    });
  const first = await send('ohwx man');
  assert.equal(first.statusCode, 201);
  const again = await send('ohwx man');
  assert.equal(again.statusCode, 201);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(again.json().id, first.json().id);
  const other = await send('ohwx man on a boat');
  assert.equal(other.statusCode, 409);
  assert.match(other.json().error, /Idempotency-Key/);
  const list = (await h.req({ method: 'GET', url: `/tunes/${t.id}/prompts` })).json();
  assert.equal(list.length, 1);
  // another account's identical key is its own
  const tB = await trainedTune(h, {}, h.keyB);
  const b = await h.req({
    method: 'POST',
    url: `/tunes/${tB.id}/prompts`,
    key: h.keyB,
    headers: { 'idempotency-key': 'k-1' },
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  assert.equal(b.statusCode, 201);
});

test('multipart uploads are compared by file content', async () => {
  const img = await dataUrl();
  const body = async (title: string) =>
    multipart([
      ['tune[title]', title],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[model_type]', 'faceid'],
      ['tune[images][]', { data: Buffer.from(img.split(',')[1], 'base64') }],
    ]);
  const headers = { 'idempotency-key': 'upload-1' };
  const a = await body('idem upload');
  const r1 = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: a.payload,
    headers: { ...a.headers, ...headers },
  });
  assert.equal(r1.statusCode, 201, r1.body);
  const b = await body('idem upload'); // new boundary, same content
  const r2 = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: b.payload,
    headers: { ...b.headers, ...headers },
  });
  assert.equal(r2.statusCode, 201);
  assert.equal(r2.json().id, r1.json().id);
  const c = await body('another title');
  const r3 = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: c.payload,
    headers: { ...c.headers, ...headers },
  });
  assert.equal(r3.statusCode, 409);
});

test('a validation error is replayed too (the first response is the answer for that key)', async () => {
  const t = await trainedTune(h);
  const send = () =>
    h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      headers: { 'idempotency-key': 'bad-1' },
      payload: { prompt: { text: 'ohwx man', num_images: 99 } },
    });
  assert.equal((await send()).statusCode, 422);
  const again = await send();
  assert.equal(again.statusCode, 422);
  assert.equal(again.headers['idempotent-replayed'], 'true');
});
