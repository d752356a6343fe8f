// Test harness: each call builds its own app on a fresh temp SQLite file and data dir, with two accounts (A and B)
// and a key each, branch=fast training in ~50 ms, and loopback callbacks allowed (test config only).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import sharp from 'sharp';
import { buildApp } from '../../src/api/app.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from '../../src/cli/runtime.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createApiKey } from '../../src/domain/keys.ts';

export const BASE_URL = 'http://atelier.test';

/** A parsed JSON response body (tests read arbitrary fields of it). */
// biome-ignore lint/suspicious/noExplicitAny: test-side view of API JSON
export type Json = Record<string, any>;

export interface Harness {
  app: FastifyInstance;
  rt: Runtime;
  config: Config;
  keyA: string;
  keyB: string;
  keyCompat: string;
  dir: string;
  /** inject with account A's key unless `key` says otherwise */
  req(opts: InjectOptions & { key?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function harness(
  overrides: Partial<Parameters<typeof loadConfig>[0]> = {},
  rtOpts: RuntimeOptions = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-test-'));
  const config = loadConfig(
    {
      dataDir: dir,
      logLevel: 'silent',
      publicBaseUrl: BASE_URL,
      fastTrainMs: 50,
      jobPollMs: 20,
      jobLeaseMs: 2000,
      jobRetryBaseMs: 10,
      webhookPollMs: 20,
      outboundAllowPrivate: true,
      outboundTimeoutMs: 2000,
      rateLimitPerMinute: 0, // tests poll fast; the limiter has its own test
      ...overrides,
    },
    {},
  );
  const rt = await openRuntime(config, {
    // Every name resolves to loopback: no test ever leaves the machine.
    outboundLookup: async () => ['127.0.0.1'],
    webhookRetryDelay: () => 20,
    ...rtOpts,
  });
  const app = await buildApp(config, { svc: rt.svc });
  const keyA = (await createApiKey(rt.svc.db, { account: 'alice' })).key;
  const keyB = (await createApiKey(rt.svc.db, { account: 'bob' })).key;
  const keyCompat = (await createApiKey(rt.svc.db, { account: 'alice', presentation: 'astria' })).key;
  return {
    app,
    rt,
    config,
    keyA,
    keyB,
    keyCompat,
    dir,
    req({ key, ...opts }) {
      const k = key === undefined ? keyA : key;
      return app.inject({
        ...opts,
        headers: { ...(k ? { authorization: `Bearer ${k}` } : {}), ...opts.headers },
      });
    },
    async close() {
      await app.close();
      await rt.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `fn` until it returns a truthy value; fails after `timeoutMs` with the last value seen. */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  what: string,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

export async function jpeg(w = 64, h = 64, color = { r: 200, g: 120, b: 40 }): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: color } })
    .jpeg()
    .toBuffer();
}

export async function dataUrl(w = 64, h = 64): Promise<string> {
  return `data:image/jpeg;base64,${(await jpeg(w, h)).toString('base64')}`;
}

/** A multipart body built by the platform's own FormData encoder, as browsers and node-fetch clients send. */
export async function multipart(
  fields: [string, string | { data: Buffer; filename?: string; type?: string }][],
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const fd = new FormData();
  for (const [k, v] of fields) {
    if (typeof v === 'string') fd.append(k, v);
    else
      fd.append(
        k,
        new Blob([new Uint8Array(v.data)], v.type ? { type: v.type } : {}),
        v.filename ?? 'upload',
      );
  }
  const r = new Request('http://x/', { method: 'POST', body: fd });
  return {
    payload: Buffer.from(await r.arrayBuffer()),
    headers: { 'content-type': r.headers.get('content-type')! },
  };
}

export function form(fields: [string, string][]): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

/** Create a fast tune for account A (or `key`) with 4 images and wait until it is trained. */
export async function trainedTune(
  h: Harness,
  tune: Record<string, unknown> = {},
  key?: string,
): Promise<Json> {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    key,
    payload: { tune: { title: `t-${Math.random()}`, name: 'man', branch: 'fast', images, ...tune } },
  });
  if (res.statusCode !== 201) throw new Error(`tune create failed: ${res.statusCode} ${res.body}`);
  const id = res.json().id;
  return waitFor(async () => {
    const t = (await h.req({ method: 'GET', url: `/tunes/${id}`, key })).json();
    return t.trained_at ? t : null;
  }, `tune ${id} trained`);
}

export async function completedPrompt(
  h: Harness,
  url: string,
  key?: string,
  timeoutMs = 60_000,
): Promise<Json> {
  // A generous bound (the machine is shared; a real engine may run): passing tests return as soon as it finishes.
  return waitFor(
    async () => {
      const p = (await h.req({ method: 'GET', url, key })).json();
      return ['completed', 'failed', 'cancelled'].includes(p.status) ? p : null;
    },
    `prompt ${url} finished`,
    timeoutMs,
  );
}

export interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP receiver for callbacks; `status` decides each answer. */
export async function receiver(status: (n: number) => number = () => 200) {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = status(got.length);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    got,
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A .safetensors file in memory: float32 tensors of the given shapes, filled with `fill(i)` (default 0.01·i). */
export function safetensorsBytes(
  tensors: { name: string; shape: number[] }[],
  fill: (i: number) => number = (i) => 0.01 * (i % 100),
): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const parts: Buffer[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    const data = Float32Array.from({ length: n }, (_, i) => fill(i));
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    parts.push(Buffer.from(data.buffer));
    offset += n * 4;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...parts]);
}
