// One Server-Sent Events loop for every "watch this row until it is final" stream (prompts, tunes): it polls the
// row (so it works when the worker is another process or machine), sends a `progress` event only when the watched
// state changes, a `done` event with the final object, `deleted` if the row disappears, and a comment line every
// 15 s so proxies keep the stream open.
import type { FastifyReply, FastifyRequest } from 'fastify';

export const EVENTS_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;

export interface RowWatch<T> {
  id(row: T): number;
  /** The fields a client follows; a change sends a `progress` event. */
  state(row: T): object;
  isFinal(row: T): boolean;
  /** The final object, as the API presents it. */
  present(row: T): Promise<unknown>;
  reload(id: number): Promise<T | undefined>;
}

/** Call after the row was loaded and authorized (so a 404 is still a plain JSON answer). */
export async function streamRow<T>(req: FastifyRequest, reply: FastifyReply, first: T, w: RowWatch<T>) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': req.id,
  });
  const send = (event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let closed = false;
  req.raw.on('close', () => {
    closed = true;
  });
  let last = '';
  let lastWrite = Date.now();
  let row = first;
  while (!closed) {
    const state = w.state(row);
    const key = JSON.stringify(state);
    if (key !== last) {
      send('progress', state);
      last = key;
      lastWrite = Date.now();
    }
    if (w.isFinal(row)) {
      send('done', await w.present(row));
      break;
    }
    if (Date.now() - lastWrite > KEEPALIVE_MS) {
      res.write(': keepalive\n\n');
      lastWrite = Date.now();
    }
    await new Promise((r) => setTimeout(r, EVENTS_POLL_MS));
    const next = await w.reload(w.id(row));
    if (!next) {
      send('deleted', { id: w.id(row) });
      break;
    }
    row = next;
  }
  res.end();
}
