// A real Atelier server on a loopback port for client and CLI tests: the API test harness (temp DB, accounts A/B,
// fast training) listening on 127.0.0.1, with its public base URL set to that address so signed image URLs are
// fetchable.
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type Harness, harness } from '../api/helpers.ts';

export interface LiveServer {
  h: Harness;
  baseUrl: string;
  close(): Promise<void>;
}

/** A port the OS hands out now (bound and released; the server binds it right after). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function liveServer(
  overrides: Parameters<typeof harness>[0] = {},
  extraRoutes?: (app: FastifyInstance) => void | Promise<void>,
): Promise<LiveServer> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const h = await harness({ publicBaseUrl: baseUrl, ...overrides });
  await extraRoutes?.(h.app);
  await h.app.listen({ port, host: '127.0.0.1' });
  return { h, baseUrl, close: () => h.close() };
}

/** A fetch that records every request (method + path) and can answer some itself. */
export function recordingFetch(answer?: (method: string, url: URL) => Response | undefined) {
  const calls: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${url.pathname}`);
    return answer?.(method, url) ?? fetch(input, init);
  };
  return { fetch: f, calls };
}
