// The typed client against a real server on a loopback port: CRUD, multipart uploads from paths and bytes,
// waitFor over the event stream and by polling (missing route), typed errors, image download, webhooks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import {
  AtelierApiError,
  AtelierClient,
  AtelierNetworkError,
  AtelierTimeoutError,
  AtelierValidationError,
  type ProgressUpdate,
  parseWebhook,
  promptImageUrls,
  verifyWebhook,
} from '../../src/client/index.ts';
import { dataUrl, jpeg, receiver, waitFor } from '../api/helpers.ts';
import { type LiveServer, liveServer, recordingFetch } from './live-server.ts';

let s: LiveServer;
let client: AtelierClient;
let dir: string;
before(async () => {
  s = await liveServer();
  client = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA });
  dir = mkdtempSync(join(tmpdir(), 'atelier-client-'));
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function trained(title: string) {
  const t = await client.tunes.create({
    title,
    name: 'man',
    branch: 'fast',
    images: await Promise.all([0, 1, 2, 3].map(() => jpeg())),
  });
  return client.tunes.wait(t.id, { pollIntervalMs: 20 });
}

test('tunes: create from file paths (multipart), get, list, update, delete; a deleted tune is a typed 404', async () => {
  const paths = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const p = join(dir, `face-${i}.jpg`);
      writeFileSync(p, await jpeg(64, 64, { r: 10 * i, g: 80, b: 40 }));
      return p;
    }),
  );
  const t = await client.tunes.create({ title: 'from paths', name: 'woman', branch: 'fast', images: paths });
  assert.equal(typeof t.id, 'number');
  assert.equal(t.orig_images.length, 4);
  assert.equal(t.name, 'woman');
  assert.equal(t.trained_at, null);
  assert.equal((await client.tunes.get(t.id)).title, 'from paths');
  assert.ok((await client.tunes.list({ limit: 5 })).some((x) => x.id === t.id));
  assert.deepEqual(
    (await client.tunes.list({ title: 'from paths' })).map((x) => x.id),
    [t.id],
  );
  const u = await client.tunes.update(t.id, { title: 'renamed', characteristics: { eye_color: 'green' } });
  assert.equal(u.title, 'renamed');
  assert.deepEqual(u.characteristics, { eye_color: 'green' });
  assert.equal((await client.tunes.delete(t.id)).id, t.id);
  const err = await client.tunes.get(t.id).then(
    () => assert.fail('expected 404'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AtelierApiError);
  assert.equal(err.status, 404);
  assert.equal(err.code, 'not_found');
  assert.match(err.requestId ?? '', /^req_/);
});

test('tunes: data-URL images go as JSON; the same title again returns the existing tune', async () => {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const a = await client.tunes.create({
    title: 'data urls',
    name: 'man',
    branch: 'fast',
    images,
    steps: 500,
  });
  assert.equal(a.steps, 500);
  assert.equal(a.orig_images.length, 4);
  const b = await client.tunes.create({ title: 'data urls', name: 'man', images });
  assert.equal(b.id, a.id);
});

test('tunes.wait follows the tune event stream to the trained tune', async () => {
  const rec = recordingFetch();
  const c = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA, fetch: rec.fetch });
  const t = await c.tunes.create({
    title: 'wait on events',
    name: 'man',
    branch: 'fast',
    images: await Promise.all([0, 1, 2, 3].map(() => jpeg())),
  });
  const updates: ProgressUpdate[] = [];
  const done = await c.tunes.wait(t.id, { pollIntervalMs: 10, onProgress: (u) => updates.push(u) });
  assert.equal(done.status, 'trained');
  assert.ok(done.trained_at);
  assert.ok(rec.calls.includes(`GET /tunes/${t.id}/events`), 'asked for the event stream');
  assert.ok(updates.length >= 1 && updates.every((u) => u.source === 'events'), JSON.stringify(updates));
});

test('tunes.wait polls when the server has no tune event stream (older server), and remembers that', async () => {
  const rec = recordingFetch((_m, url) =>
    url.pathname.endsWith('/events')
      ? Response.json({ error: 'No route', code: 'route_not_found', request_id: 'x' }, { status: 404 })
      : undefined,
  );
  const c = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA, fetch: rec.fetch });
  const t = await c.tunes.create({
    title: 'wait by polling',
    name: 'man',
    branch: 'fast',
    images: await Promise.all([0, 1, 2, 3].map(() => jpeg())),
  });
  const updates: ProgressUpdate[] = [];
  const done = await c.tunes.wait(t.id, { pollIntervalMs: 10, onProgress: (u) => updates.push(u) });
  assert.equal(done.status, 'trained');
  assert.ok(done.trained_at);
  assert.ok(rec.calls.includes(`GET /tunes/${t.id}/events`), 'asked for the event stream first');
  assert.ok(updates.length >= 1 && updates.every((u) => u.source === 'poll'));
  assert.equal(updates.at(-1)?.status, 'trained');
  rec.calls.length = 0;
  await c.tunes.wait(t.id, { pollIntervalMs: 10 });
  assert.deepEqual(rec.calls, [`GET /tunes/${t.id}`], 'no second try of a missing stream');
});

test('prompts.wait follows the event stream: progress events, then the final object from `done`', async () => {
  const t = await trained('sse tune');
  const rec = recordingFetch();
  const c = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA, fetch: rec.fetch });
  const p = await c.prompts.create(t.id, { text: 'ohwx man, studio light', num_images: 2, w: 256, h: 192 });
  assert.equal(p.status, 'queued');
  assert.deepEqual(p.images, []);
  const updates: ProgressUpdate[] = [];
  const done = await c.prompts.wait(p.id, { onProgress: (u) => updates.push(u) });
  assert.equal(done.status, 'completed');
  assert.equal(done.images.length, 2);
  // (A prompt that finished before the stream opened yields one update; a longer one, several.)
  assert.ok(updates.length >= 1, JSON.stringify(updates));
  assert.ok(updates.every((u) => u.source === 'events'));
  assert.equal(updates.at(-1)?.progress, 1);
  assert.ok(!rec.calls.includes(`GET /prompts/${p.id}`), 'the final object came from the stream');

  const [url] = promptImageUrls(done);
  const img = await c.downloadImage(url);
  assert.equal(img.contentType, 'image/jpeg');
  const meta = await sharp(img.data).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 192]);
});

test('prompts.wait falls back to polling when the events route answers route_not_found (older server)', async () => {
  const t = await trained('poll fallback');
  const rec = recordingFetch((_m, url) =>
    url.pathname.endsWith('/events')
      ? Response.json({ error: 'No route', code: 'route_not_found', request_id: 'x' }, { status: 404 })
      : undefined,
  );
  const c = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA, fetch: rec.fetch });
  const p = await c.prompts.create(t.id, { text: 'ohwx man', num_images: 1 });
  const done = await c.prompts.wait(p.id, { pollIntervalMs: 10 });
  assert.equal(done.status, 'completed');
  assert.ok(rec.calls.filter((x) => x === `GET /prompts/${p.id}`).length >= 1);
});

test('prompts: a missing prompt is an error, not a fallback; delete, cancel and list work', async () => {
  const t = await trained('prompt crud');
  await assert.rejects(
    client.prompts.wait(999_999),
    (e: unknown) => e instanceof AtelierApiError && e.status === 404,
  );
  const a = await client.prompts.create(t.id, { text: 'ohwx man one', num_images: 1 });
  const b = await client.prompts.create(t.id, { text: 'ohwx man two', num_images: 1 });
  const listed = await client.prompts.list({ tuneId: t.id });
  assert.deepEqual(
    listed.map((x) => x.id),
    [b.id, a.id],
  );
  assert.deepEqual(
    (await client.prompts.list({ text: 'two' })).map((x) => x.id),
    [b.id],
  );
  const c = await client.prompts.cancel(a.id);
  assert.ok(['cancelled', 'completed'].includes(c.status));
  assert.equal((await client.prompts.delete(b.id)).id, b.id);
  await assert.rejects(
    client.prompts.get(b.id),
    (e: unknown) => e instanceof AtelierApiError && e.status === 404,
  );
});

test('prompts: input_image from bytes goes multipart; from a URL it becomes input_image_url', async () => {
  const t = await trained('img2img');
  const p = await client.prompts.create(t.id, {
    text: 'ohwx man as a statue',
    num_images: 1,
    input_image: { data: await jpeg(128, 128), filename: 'in.jpg' },
    denoising_strength: 0.5,
  });
  assert.equal(p.denoising_strength, 0.5);
  assert.equal((await client.prompts.wait(p.id)).status, 'completed');
  const q = await client.prompts.create(t.id, {
    text: 'ohwx man',
    input_image: 'https://example.com/in.jpg',
  });
  assert.equal(q.input_image_url, 'https://example.com/in.jpg');
});

test('a 422 is an AtelierValidationError carrying the field errors', async () => {
  const t = await trained('validation');
  const e = await client.prompts
    .create(t.id, { text: 'no trigger word here', cfg_scale: 99, num_images: 9 })
    .then(
      () => assert.fail('expected 422'),
      (err: unknown) => err,
    );
  assert.ok(e instanceof AtelierValidationError);
  assert.equal(e.status, 422);
  assert.ok(e.fields.cfg_scale?.length, JSON.stringify(e.fields));
  assert.ok(e.fields.num_images?.length, JSON.stringify(e.fields));
  const noImages = await client.tunes.create({ title: 'none', name: 'man', branch: 'fast' }).catch((x) => x);
  assert.ok(noImages instanceof AtelierValidationError);
  assert.equal(noImages.code, 'images_missing');
  assert.deepEqual(Object.keys(noImages.fields), ['images']);
});

test('a wrong key is a typed 401; an unreachable server is a network error', async () => {
  const bad = new AtelierClient({ baseUrl: s.baseUrl, apiKey: 'sd_wrong' });
  await assert.rejects(
    bad.tunes.list(),
    (e: unknown) => e instanceof AtelierApiError && e.code === 'unauthorized',
  );
  const nowhere = new AtelierClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
  await assert.rejects(nowhere.tunes.list(), (e: unknown) => e instanceof AtelierNetworkError);
});

test('waitFor gives up after timeoutMs with the last state, and stops when its signal aborts', async () => {
  const slow = await liveServer({ fastTrainMs: 600_000 });
  try {
    const c = new AtelierClient({ baseUrl: slow.baseUrl, apiKey: slow.h.keyA });
    const t = await c.tunes.create({
      title: 'slow',
      name: 'man',
      branch: 'fast',
      images: await Promise.all([0, 1, 2, 3].map(() => dataUrl())),
    });
    let polls = 0;
    const e = await c.tunes
      .wait(t.id, { timeoutMs: 300, pollIntervalMs: 10, onProgress: () => polls++ })
      .catch((x) => x);
    assert.ok(e instanceof AtelierTimeoutError, String(e));
    assert.match(e.message, new RegExp(`tune ${t.id} not finished after 300 ms`));
    // On a loaded machine the deadline may pass before the first answer; otherwise the last state comes along.
    if (polls > 0) assert.equal((e.last as { id: number }).id, t.id);
    const p = await c.prompts.create(t.id, { text: 'ohwx man' }); // waits for training: never finishes here
    const ac = new AbortController();
    const pending = c.prompts.wait(p.id, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
  } finally {
    await slow.close();
  }
});

test('webhooks: a real delivery verifies with the account secret and parses; tampering or age fails', async () => {
  const cb = await receiver();
  try {
    const t = await trained('webhook');
    const p = await client.prompts.create(t.id, {
      text: 'ohwx man',
      num_images: 1,
      callback: `${cb.base}/hook?x=1`,
    });
    await client.prompts.wait(p.id);
    const got = await waitFor(() => cb.got.find((g) => g.url === '/hook?x=1'), 'the callback');
    const account = await s.h.rt.svc.db
      .selectFrom('accounts')
      .select('webhook_secret')
      .where('name', '=', 'alice')
      .executeTakeFirstOrThrow();
    const secret = account.webhook_secret;
    const ev = parseWebhook(secret, got.headers, got.body);
    assert.equal(ev.type, 'prompt');
    assert.equal(ev.type === 'prompt' && ev.prompt.id, p.id);
    assert.ok(
      verifyWebhook(secret, new Headers(got.headers as Record<string, string>), Buffer.from(got.body)),
    );
    assert.equal(verifyWebhook(secret, got.headers, got.body.replace('"id"', '"Id"')), false);
    const later = Number(got.headers['webhook-timestamp']) + 3600;
    assert.equal(verifyWebhook(secret, got.headers, got.body, { nowSec: later }), false);
    assert.throws(() =>
      parseWebhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, got.headers, got.body),
    );
  } finally {
    await cb.close();
  }
});

test('the package exports the client as atelier/client (self-reference through package.json "exports")', async () => {
  const pkg: typeof import('atelier/client') = await import('atelier/client');
  assert.equal(pkg.AtelierClient, AtelierClient);
  assert.equal(pkg.verifyWebhook, verifyWebhook);
  const t: import('atelier/client').Tune | undefined = undefined;
  assert.equal(t, undefined);
});

test('user, openapi, conditioning and webhook delivery log', async () => {
  assert.equal(typeof (await client.user()).id, 'number');
  const cond = (await client.conditioning()).conditioning;
  assert.ok(cond.some((c) => c.type === 'canny' && typeof c.available === 'boolean'));
  assert.equal((await client.openapi()).openapi, '3.1.0');
  assert.ok(Array.isArray(await client.webhookDeliveries({ limit: 5 })));
});

test('progress updates carry the queue position the events send while queued (scripted stream, real final prompt)', async () => {
  const t = await trained('queue position');
  const plain = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA });
  const p = await plain.prompts.create(t.id, { text: 'ohwx man, in line', num_images: 1 });
  const final = await plain.prompts.wait(p.id);
  // The real server's positions are tested in test/api/queue-position.test.ts; here only the client's reading.
  const stream = [
    { event: 'progress', data: { id: p.id, status: 'queued', progress: 0, queue_position: 2 } },
    { event: 'progress', data: { id: p.id, status: 'queued', progress: 0, queue_position: 1 } },
    { event: 'progress', data: { id: p.id, status: 'processing', progress: 0.5, queue_position: null } },
    { event: 'done', data: final },
  ]
    .map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
    .join('');
  const rec = recordingFetch((_m, url) =>
    url.pathname === `/prompts/${p.id}/events`
      ? new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
      : undefined,
  );
  const c = new AtelierClient({ baseUrl: s.baseUrl, apiKey: s.h.keyA, fetch: rec.fetch });
  const updates: ProgressUpdate[] = [];
  await c.prompts.wait(p.id, { onProgress: (u) => updates.push(u) });
  assert.deepEqual(
    updates.map((u) => [u.status, u.queuePosition]),
    [
      ['queued', 2],
      ['queued', 1],
      ['processing', null],
      ['completed', null],
    ],
  );
});
