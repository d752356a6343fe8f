// Restarts (graceful stop, then a new process on the same data dir): queued training and prompt jobs are not
// lost and run after the restart; a callback receiver that was down for the whole life of the first server gets
// its delivery from the second one, because the retry schedule (attempts, next_attempt_at) is in the database.
// (kill -9 of a worker and of the server mid-upload are in test/failure/worker-kill.test.ts and neighbours.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { completedPrompt, dataUrl, harness, waitFor } from '../api/helpers.ts';

/** A loopback port with nothing listening on it (yet). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('queued training and prompt jobs survive a restart and complete on the next server', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'atelier-restart-'));
  try {
    const first = await harness({ dataDir }, { worker: false });
    const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
    const t = await first.req({
      method: 'POST',
      url: '/tunes',
      payload: { tune: { title: 'restart', name: 'man', branch: 'fast', images } },
    });
    assert.equal(t.statusCode, 201, t.body);
    const p = await first.req({
      method: 'POST',
      url: `/tunes/${t.json().id}/prompts`,
      payload: { prompt: { text: 'ohwx man', num_images: 1 } },
    });
    assert.equal(p.statusCode, 201, p.body);
    const jobs = await first.rt.svc.db.selectFrom('jobs').selectAll().execute();
    assert.ok(jobs.length >= 1, 'the training job is persisted');
    await first.close();

    const second = await harness({ dataDir });
    try {
      const done = await completedPrompt(second, `/prompts/${p.json().id}`);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.images.length, 1);
      const tune = (await second.req({ method: 'GET', url: `/tunes/${t.json().id}` })).json();
      assert.ok(tune.trained_at);
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a callback receiver down across a restart: retries resume from the persisted schedule, same event id', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'atelier-restart-cb-'));
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/hook?webhook_secret=abc`;
  try {
    const first = await harness({ dataDir });
    let promptId: number;
    let pending: { event_id: string; attempts: number; next_attempt_at: string; status: string };
    try {
      const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
      const t = await first.req({
        method: 'POST',
        url: '/tunes',
        payload: { tune: { title: 'cb', name: 'man', branch: 'fast', images } },
      });
      await waitFor(
        async () => (await first.req({ method: 'GET', url: `/tunes/${t.json().id}` })).json().trained_at,
        'trained',
      );
      const p = await first.req({
        method: 'POST',
        url: `/tunes/${t.json().id}/prompts`,
        payload: { prompt: { text: 'ohwx man', num_images: 1, callback } },
      });
      promptId = p.json().id;
      pending = await waitFor(
        () =>
          first.rt.svc.db
            .selectFrom('webhook_deliveries')
            .selectAll()
            .where('subject_id', '=', promptId)
            .where('attempts', '>=', 2)
            .executeTakeFirst(),
        'two failed attempts against the dead receiver',
      );
      assert.equal(pending.status, 'pending');
      assert.ok(Date.parse(pending.next_attempt_at), 'the next attempt time is stored');
    } finally {
      await first.close();
    }
    // while no server runs, the schedule is on disk
    const rx = await listenOn(port);
    try {
      const second = await harness({ dataDir });
      try {
        const got = await waitFor(() => rx.got.find((r) => r.url === '/hook?webhook_secret=abc'), 'delivery');
        assert.equal(got.headers['webhook-id'], pending.event_id, 'the same event id as before the restart');
        assert.equal(JSON.parse(got.body).prompt.id, promptId);
        const row = await waitFor(
          () =>
            second.rt.svc.db
              .selectFrom('webhook_deliveries')
              .selectAll()
              .where('event_id', '=', pending.event_id)
              .where('status', '=', 'delivered')
              .executeTakeFirst(),
          'delivered row',
        );
        assert.ok(row.attempts > pending.attempts, 'attempts continue from the persisted count');
      } finally {
        await second.close();
      }
    } finally {
      await rx.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** `receiver()` from the API helpers, but on a chosen port. */
async function listenOn(port: number) {
  const got: { url: string; headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return { got, close: () => new Promise<void>((res) => server.close(() => res())) };
}
