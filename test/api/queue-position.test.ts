// (ext) queue_position: two accounts' queued prompts get the places the fair pick will serve them in, on the
// prompt JSON (GET, lists, create) and on the SSE progress events, updated as jobs are claimed; null once running.
// No worker runs in the app, so the test claims jobs itself and nothing moves unless it says so.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { JOB_PROMPT } from '../../src/domain/context.ts';
import { WORKER_JOB_TYPES } from '../../src/domain/queue-positions.ts';
import { promptJob } from '../../src/jobs/prompt-job.ts';
import { Worker } from '../../src/jobs/worker.ts';
import { type Harness, harness, type Json, jpeg, multipart, waitFor } from './helpers.ts';

const TUNE = 690300;
let h: Harness;
before(async () => {
  h = await harness({}, { worker: false });
  await addBaseTune(h.rt.svc, { id: TUNE, title: 'shared base (mock)', branch: 'fast' });
});
after(() => h.close());

async function create(key: string, text: string): Promise<Json> {
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${TUNE}/prompts`,
    key,
    payload: { prompt: { text, num_images: 1 } },
  });
  assert.equal(r.statusCode, 201, r.body);
  return r.json();
}

const positionOf = async (id: number, key: string) =>
  (await h.req({ method: 'GET', url: `/prompts/${id}`, key })).json().queue_position;

/** Reads an event stream over real HTTP, handing each parsed event to `on` until it returns true or the end. */
async function follow(url: string, key: string, on: (event: string, data: Json) => boolean | undefined) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data && on(event, JSON.parse(data))) {
        await reader.cancel();
        return;
      }
    }
  }
}

test('queued prompts of two accounts: fair positions on the JSON and the event stream, moving as jobs are claimed', async () => {
  // Alice queues a1, a2, then Bob b1, then Alice a3. The fair pick alternates accounts: a1, b1, a2, a3.
  const a1 = await create(h.keyA, 'a lighthouse 1');
  const a2 = await create(h.keyA, 'a lighthouse 2');
  const b1 = await create(h.keyB, 'a harbour 1');
  const a3 = await create(h.keyA, 'a lighthouse 3');
  assert.equal(a1.queue_position, 1, 'the create answer carries it');
  assert.equal(b1.queue_position, 2);
  assert.equal(a3.queue_position, 4);
  assert.equal(await positionOf(a2.id, h.keyA), 3);
  assert.equal(await positionOf(b1.id, h.keyB), 2);
  // Lists carry it too, and each account sees only its own prompts (with numbers counting the others' jobs).
  const listA = (await h.req({ method: 'GET', url: '/prompts' })).json() as Json[];
  assert.deepEqual(
    listA.map((p) => [p.id, p.queue_position]),
    [
      [a3.id, 4],
      [a2.id, 3],
      [a1.id, 1],
    ],
  );
  const listB = (await h.req({ method: 'GET', url: `/tunes/${TUNE}/prompts`, key: h.keyB })).json() as Json[];
  assert.deepEqual(
    listB.map((p) => [p.id, p.queue_position]),
    [[b1.id, 2]],
  );

  // The stream of a3 starts at 4; a worker claiming a1 makes Alice busy, so Bob's b1 and then a2, a3 move up.
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (h.app.server.address() as AddressInfo).port;
  const seen: (number | null)[] = [];
  let claimed = false;
  const q = h.rt.svc.queue;
  await follow(`http://127.0.0.1:${port}/prompts/${a3.id}/events`, h.keyA, (event, data) => {
    assert.equal(event, 'progress');
    assert.equal(data.id, a3.id);
    assert.equal(data.status, 'queued');
    seen.push(data.queue_position);
    if (!claimed) {
      claimed = true;
      void q.claim('test-worker', WORKER_JOB_TYPES).then((job) => {
        assert.equal(job?.subjectId, a1.id, 'position 1 is what the worker claims');
      });
      return false;
    }
    return true;
  });
  assert.deepEqual(seen, [4, 3]);
  assert.equal(await positionOf(b1.id, h.keyB), 1, "Alice runs a job now, so Bob's prompt is next");
  assert.equal(await positionOf(a2.id, h.keyA), 2);
  assert.equal(await positionOf(a1.id, h.keyA), null, 'its job is running: no place in the queue');

  // A real worker takes over (the claimed job handed back first): the stream of a3 goes through processing with
  // no position and ends with the completed prompt; every position is null once done.
  const held = (
    await h.rt.svc.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()
  )[0]!;
  await q.release(held.id, 'test-worker');
  const worker = new Worker(
    q,
    { [JOB_PROMPT]: promptJob(h.rt.svc) },
    { concurrency: 1, leaseMs: 2000, pollMs: 20 },
  );
  worker.start();
  try {
    const events: { event: string; data: Json }[] = [];
    await follow(`http://127.0.0.1:${port}/prompts/${a3.id}/events`, h.keyA, (event, data) => {
      events.push({ event, data });
      return undefined;
    });
    const done = events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.data.status, 'completed');
    assert.equal(done.data.queue_position, null);
    for (const e of events.slice(0, -1))
      assert.equal(
        e.data.queue_position === null,
        e.data.status !== 'queued',
        `queue_position only while queued: ${JSON.stringify(e.data)}`,
      );
    for (const [p, key] of [
      [a1, h.keyA],
      [a2, h.keyA],
      [b1, h.keyB],
    ] as const)
      await waitFor(
        async () =>
          (await h.req({ method: 'GET', url: `/prompts/${p.id}`, key })).json().status === 'completed',
        `prompt ${p.id} completed`,
      );
    assert.equal(await positionOf(a1.id, h.keyA), null);
  } finally {
    await worker.stop();
  }
});

test('a queued tune has its training job’s position; a prompt waiting for it has no job yet, so no position', async () => {
  // Without a worker the tune stays queued; a prompt on it waits for the training without a job of its own.
  const photo = await jpeg();
  const body = await multipart([
    ['tune[title]', 'waiting'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ...[0, 1, 2, 3].map((i): [string, { data: Buffer; filename: string; type: string }] => [
      'tune[images][]',
      { data: photo, filename: `${i}.jpg`, type: 'image/jpeg' },
    ]),
  ]);
  const tune = await h.req({ method: 'POST', url: '/tunes', ...body });
  assert.equal(tune.statusCode, 201, tune.body);
  // The tune's own training job is the only one queued: position 1, on its JSON, the list and its event stream.
  assert.equal(tune.json().queue_position, 1);
  const listed = (await h.req({ method: 'GET', url: '/tunes' })).json() as Json[];
  assert.equal(listed.find((t) => t.id === tune.json().id)?.queue_position, 1);
  if (!h.app.server.listening) await h.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (h.app.server.address() as AddressInfo).port;
  await follow(`http://127.0.0.1:${port}/tunes/${tune.json().id}/events`, h.keyA, (event, data) => {
    assert.deepEqual([event, data.status, data.queue_position], ['progress', 'queued', 1]);
    return true;
  });
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${tune.json().id}/prompts`,
    payload: { prompt: { text: 'ohwx man on a boat', num_images: 1 } },
  });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal(r.json().status, 'queued');
  assert.equal(r.json().queue_position, null);
});
