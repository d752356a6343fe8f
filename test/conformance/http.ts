// Real-HTTP helpers for the conformance suite: a live Atelier on 127.0.0.1 (test/client/live-server.ts), global
// fetch/FormData as clients use them, a loopback image host, and a callback receiver.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

// biome-ignore lint/suspicious/noExplicitAny: test-side view of API JSON
export type Json = Record<string, any>;

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test-side view of API JSON
  json: any;
}

export interface CallOptions {
  key?: string | null;
  json?: unknown;
  form?: [string, string][];
  multipart?: [string, string | { data: Buffer; filename?: string; type?: string }][];
  headers?: Record<string, string>;
}

export function caller(baseUrl: string, defaultKey: string) {
  return async function call(method: string, path: string, o: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
    const key = o.key === undefined ? defaultKey : o.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: BodyInit | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.multipart) {
      const fd = new FormData();
      for (const [k, v] of o.multipart)
        if (typeof v === 'string') fd.append(k, v);
        else
          fd.append(k, new Blob([new Uint8Array(v.data)], v.type ? { type: v.type } : {}), v.filename ?? k);
      body = fd;
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

export async function photo(w = 64, h = 64, r = 200): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r, g: 120, b: 40 } } })
    .jpeg()
    .toBuffer();
}

export interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * One loopback server for everything outside Atelier: `/img/<n>.jpg` serves a JPEG, `/missing` is a 404, `/hang`
 * holds the request until `release()`, and every other path records the request as a callback and answers 200.
 */
export async function outside() {
  const jpeg = await photo();
  const got: Received[] = [];
  const held: ServerResponse[] = [];
  let hangSeen = 0;
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (/^\/img\/\d+\.jpg/.test(url))
      return void res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    if (url === '/missing') return void res.writeHead(404).end();
    if (url.startsWith('/hang')) {
      hangSeen++;
      held.push(res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    got,
    hangSeen: () => hangSeen,
    release: () => {
      for (const r of held.splice(0)) r.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const x of held.splice(0)) x.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function until<T>(
  fn: () => Promise<T> | T,
  what: string,
  timeoutMs = 60_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
