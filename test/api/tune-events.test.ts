// GET /tunes/:id/events: progress events while the tune trains, then `done` with the final tune; 404 for others.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dataUrl, type Harness, harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness({ fastTrainMs: 300 });
});
after(() => h.close());

const parse = (body: string) =>
  body
    .trim()
    .split('\n\n')
    .filter((b) => !b.startsWith(':'))
    .map((block) => {
      const [event, data] = block.split('\n');
      return { event: event!.replace('event: ', ''), data: JSON.parse(data!.replace('data: ', '')) };
    });

test('streams training progress and ends with the trained tune', async () => {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'events', name: 'man', branch: 'fast', images } },
  });
  assert.equal(r.statusCode, 201, r.body);
  const res = await h.req({ method: 'GET', url: `/tunes/${r.json().id}/events` });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/event-stream/);
  const events = parse(res.body);
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  assert.equal(done.data.id, r.json().id);
  assert.ok(done.data.trained_at, 'the final tune object is trained');
  const progress = events.slice(0, -1);
  assert.ok(progress.length >= 2, `at least the start and the end state: ${res.body}`);
  assert.ok(progress.every((e) => e.event === 'progress'));
  assert.equal(progress.at(-1)!.data.status, 'trained');
  const keys = progress.map((e) => JSON.stringify(e.data));
  assert.equal(new Set(keys).size, keys.length, 'only changes are sent');
});

test('another account gets 404, and an unknown id 404', async () => {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'private', name: 'man', branch: 'fast', images } },
  });
  assert.equal(
    (await h.req({ method: 'GET', url: `/tunes/${r.json().id}/events`, key: h.keyB })).statusCode,
    404,
  );
  assert.equal((await h.req({ method: 'GET', url: '/tunes/999999/events' })).statusCode, 404);
});
