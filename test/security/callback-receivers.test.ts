// Hostile or broken callback receivers: one that hangs forever and one that answers 500. Deliveries are retried,
// a hung receiver never blocks other deliveries, and the log never shows a callback's query string (clients put
// secrets there, e.g. ?webhook_secret=… in CLIENTS.md item 30).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { harness, receiver, trainedTune, waitFor } from '../api/helpers.ts';

const SECRET = 'webhook_secret=s3cr3t-value-42';

function capturingLog() {
  const lines: string[] = [];
  const push = (level: string) => (obj: object, msg?: string) => {
    lines.push(
      `${level} ${msg ?? ''} ${JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.message : v))}`,
    );
  };
  return { lines, log: { info: push('info'), warn: push('warn'), error: push('error') } };
}

/** Accepts connections and never answers: a receiver that hangs. */
async function hangingServer(): Promise<{ base: string; close(): Promise<void> }> {
  const server: Server = createServer(() => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('a hanging receiver times out and is retried, while another prompt callback is still delivered', async () => {
  const { lines, log } = capturingLog();
  const h = await harness({ outboundTimeoutMs: 150 }, { log });
  const hang = await hangingServer();
  const good = await receiver();
  try {
    const tune = await trainedTune(h);
    const post = (callback: string) =>
      h.req({
        method: 'POST',
        url: `/tunes/${tune.id}/prompts`,
        payload: { prompt: { text: 'ohwx man', num_images: 1, callback } },
      });
    assert.equal((await post(`${hang.base}/cb?${SECRET}`)).statusCode, 201);
    assert.equal((await post(`${good.base}/cb?${SECRET}`)).statusCode, 201);

    await waitFor(() => good.got.length > 0, 'the healthy receiver got its callback');
    const hung = await waitFor(
      () =>
        h.rt.svc.db
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('url', 'like', `${hang.base}%`)
          .where('attempts', '>=', 2)
          .executeTakeFirst(),
      'the hung delivery was attempted twice',
    );
    assert.equal(hung.status === 'delivered', false);
    assert.match(hung.last_error ?? '', /timed out/);
    assert.ok(!(hung.last_error ?? '').includes('s3cr3t'), 'the stored error has no query string');

    const failures = lines.filter((l) => l.includes('callback delivery failed'));
    assert.ok(failures.length > 0, 'failures are logged');
    assert.deepEqual(
      lines.filter((l) => l.includes('s3cr3t')),
      [],
      'no log line contains the callback query string',
    );
  } finally {
    await h.close();
    await hang.close();
    await good.close();
  }
});

test('a receiver answering 500 is retried until it answers 2xx; its URL is logged without the query', async () => {
  const { lines, log } = capturingLog();
  const h = await harness({}, { log });
  const flaky = await receiver((n) => (n < 3 ? 500 : 200));
  try {
    const tune = await trainedTune(h);
    const res = await h.req({
      method: 'POST',
      url: `/tunes/${tune.id}/prompts`,
      payload: { prompt: { text: 'ohwx man', num_images: 1, callback: `${flaky.base}/hook?${SECRET}` } },
    });
    assert.equal(res.statusCode, 201);
    await waitFor(() => flaky.got.length >= 3, 'three attempts');
    assert.equal(flaky.got[2].url, `/hook?${SECRET}`, 'the receiver still gets the exact URL');
    const failed = lines.filter((l) => l.includes('callback delivery failed'));
    assert.ok(failed.length >= 2);
    for (const l of failed) assert.ok(l.includes(`${flaky.base}/hook?…`), l);
    assert.deepEqual(
      lines.filter((l) => l.includes('s3cr3t')),
      [],
    );
  } finally {
    await h.close();
    await flaky.close();
  }
});
