// Base models shared by every account (API.md §2, CLIENTS.md item 21) and the SSE progress stream (API.md §3 ext).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { completedPrompt, type Harness, harness, trainedTune } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
  await addBaseTune(h.rt.svc, { id: 690204, title: 'Realistic Vision (mock)', branch: 'fast' });
});
after(() => h.close());

test('a base tune with a hard-coded id takes prompts from every account, without a trigger word', async () => {
  for (const key of [h.keyA, h.keyB]) {
    const t = await h.req({ method: 'GET', url: '/tunes/690204.json', key });
    assert.equal(t.statusCode, 200);
    assert.equal(t.json().model_type, null);
    assert.ok(t.json().trained_at);
    const r = await h.req({
      method: 'POST',
      url: '/tunes/690204/prompts',
      key,
      payload: { prompt: { text: 'a lighthouse at dusk', num_images: 1 } },
    });
    assert.equal(r.statusCode, 201, r.body);
    const p = await completedPrompt(h, `/tunes/690204/prompts/${r.json().id}`, key);
    assert.equal(p.status, 'completed');
    assert.equal(p.images.length, 1);
  }
  // Each account sees only its own prompts on the shared tune.
  assert.equal((await h.req({ method: 'GET', url: '/tunes/690204/prompts' })).json().length, 1);
  assert.equal((await h.req({ method: 'GET', url: '/tunes/690204/prompts', key: h.keyB })).json().length, 1);
  // Nobody can change or delete it through the API, and it is not in anyone's own list.
  assert.equal(
    (await h.req({ method: 'PATCH', url: '/tunes/690204', payload: { tune: { title: 'x' } } })).statusCode,
    404,
  );
  assert.equal((await h.req({ method: 'DELETE', url: '/tunes/690204' })).statusCode, 404);
  assert.ok(
    !(await h.req({ method: 'GET', url: '/tunes' })).json().some((t: { id: number }) => t.id === 690204),
  );
});

test('a tune trained on a base tune inherits its branch when none is given', async () => {
  const t = await trainedTune(h, { base_tune_id: 690204, branch: undefined });
  assert.equal(t.branch, 'fast');
  assert.equal(t.base_tune_id, 690204);
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'nb', name: 'man', base_tune_id: 123, images: ['https://example.com/a.jpg'] } },
  });
  assert.equal(r.statusCode, 422);
  assert.ok(r.json().errors.base_tune_id);
});

test('GET /prompts/:id/events streams progress and ends with the final prompt', async () => {
  const t = await trainedTune(h);
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 2 } },
  });
  const res = await h.req({ method: 'GET', url: `/prompts/${r.json().id}/events` });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/event-stream/);
  const events = res.body
    .trim()
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      return { event: lines[0].replace('event: ', ''), data: JSON.parse(lines[1].replace('data: ', '')) };
    });
  assert.equal(events.at(-1)!.event, 'done');
  assert.equal(events.at(-1)!.data.status, 'completed');
  assert.equal(events.at(-1)!.data.images.length, 2);
  assert.ok(events.slice(0, -1).every((e) => e.event === 'progress'));
  assert.equal(events.at(-2)!.data.status, 'completed');
  assert.equal(
    (await h.req({ method: 'GET', url: `/prompts/${r.json().id}/events`, key: h.keyB })).statusCode,
    404,
  );
});
