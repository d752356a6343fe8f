// GET /tunes/:id/events (ext): Server-Sent Events with the tune's status and training progress, ending with a
// `done` event carrying the final tune object (trained or failed), like the prompts' stream
// (src/api/routes/prompts/events.ts). It watches the row, so it works when the trainer runs in another process or
// on another machine, and sends only changes; a comment line every 15 s keeps proxies from closing the stream.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { loadOwnTune } from '../../../domain/tunes.ts';
import type { Tune } from '../../../store/schema.ts';
import { getTune, listTuneImages } from '../../../store/tunes.ts';
import { idParam } from '../../list-query.ts';
import { presentTune } from '../../presenters/tune.ts';

const EVENTS_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;
const isTuneFinal = (t: Tune) => t.status === 'trained' || t.status === 'failed';

export async function tuneEventRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };

  app.get('/tunes/:id/events', async (req, reply) => {
    const first = await loadOwnTune(svc, req.actor, idParam(req.params)); // 404 before the stream starts
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
    let t = first;
    while (!closed) {
      const state = { id: t.id, status: t.status, progress: t.progress, phase: t.phase };
      const key = JSON.stringify(state);
      if (key !== last) {
        send('progress', state);
        last = key;
        lastWrite = Date.now();
      }
      if (isTuneFinal(t)) {
        send('done', presentTune(t, await listTuneImages(svc.db, t.id), ctx));
        break;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        res.write(': keepalive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((r) => setTimeout(r, EVENTS_POLL_MS));
      const next = await getTune(svc.db, t.id);
      if (!next) {
        send('deleted', { id: t.id });
        break;
      }
      t = next;
    }
    res.end();
  });
}
