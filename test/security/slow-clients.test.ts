// Slow-loris: a client that trickles its headers or body keeps a connection (and a buffered upload) alive forever
// unless the server bounds the whole request. The app sets Fastify's requestTimeout / connectionTimeout from
// config; these tests use a real listening server and raw sockets that trickle bytes far slower than the deadline
// allows, and check the server closes the connection before the client is done.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { type Harness, harness } from '../api/helpers.ts';

let h: Harness;
let port: number;

before(async () => {
  h = await harness({ httpRequestTimeoutMs: 1000, httpIdleTimeoutMs: 1000 });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  port = (h.app.server.address() as AddressInfo).port;
});
after(() => h.close());

/**
 * Sends `head` then `body` one byte every `everyMs`, until the server closes the socket or everything was sent.
 * Returns whether the server cut the client off first, and what it answered.
 */
function trickle(head: string, body: string, everyMs: number): Promise<{ cutOff: boolean; reply: string }> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, '127.0.0.1');
    const data = Buffer.from(head + body);
    let sent = 0;
    let reply = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (cutOff: boolean) => {
      clearInterval(timer);
      sock.destroy();
      resolve({ cutOff, reply });
    };
    sock.on('data', (d) => {
      reply += d.toString('latin1');
    });
    sock.on('close', () => finish(sent < data.length));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') finish(sent < data.length);
      else reject(e);
    });
    sock.on('connect', () => {
      timer = setInterval(() => {
        if (sent >= data.length) return finish(false);
        sock.write(data.subarray(sent, sent + 1));
        sent += 1;
      }, everyMs);
    });
  });
}

test('headers trickled byte by byte: the connection is closed before they are complete', async () => {
  // ~2000 header bytes at one per 10 ms would take ~20 s; the deadline is 1 s.
  const head = `GET /tunes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.keyA}\r\nX-Pad: ${'a'.repeat(1900)}\r\n\r\n`;
  const r = await trickle(head, '', 10);
  assert.equal(
    r.cutOff,
    true,
    `the server waited for the whole trickle; it answered ${r.reply.slice(0, 80)}`,
  );
  assert.ok(!r.reply.startsWith('HTTP/1.1 200'), r.reply.slice(0, 80));
});

test('an upload body trickled slowly is cut off, with a 408 when the server still answers, and stores nothing', async () => {
  const body = `--B\r\nContent-Disposition: form-data; name="tune[title]"\r\n\r\n${'x'.repeat(3000)}\r\n--B--\r\n`;
  const head =
    `POST /tunes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.keyA}\r\n` +
    `Content-Type: multipart/form-data; boundary=B\r\nContent-Length: ${body.length}\r\n\r\n`;
  const before = await h.rt.svc.db
    .selectFrom('tunes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  // send the head at once (fast part of the trickle), then the body byte by byte
  const r = await trickle(head, body, 5);
  assert.equal(r.cutOff, true, 'the server waited for the whole trickled body');
  if (r.reply) assert.match(r.reply, /^HTTP\/1\.1 (408|400)/, r.reply.slice(0, 80));
  const afterCount = await h.rt.svc.db
    .selectFrom('tunes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  assert.equal(Number(afterCount.n), Number(before.n));
});

test('a connection that goes silent after connecting is closed by the idle timeout', async () => {
  const closed = await new Promise<boolean>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.on('close', () => resolve(true));
    sock.on('error', () => resolve(true));
    sock.write('GET /health'); // an unfinished request line, then nothing
  });
  assert.equal(closed, true);
});

test('a normal request on the same server still succeeds (the bounds are not refusing everything)', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/tunes`, {
    headers: { authorization: `Bearer ${h.keyA}` },
  });
  assert.equal(res.status, 200);
});
