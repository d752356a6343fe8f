// GET /prompts/:id/events (ext): Server-Sent Events with the prompt's status and per-step progress, ending with a
// `done` event carrying the final prompt object. It watches the row (so it works when the worker is another
// process) and sends only changes; a comment line every 15 s keeps proxies from closing the stream.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { isPromptFinal } from '../../../domain/lifecycle.ts';
import { loadOwnPrompt } from '../../../domain/prompts.ts';
import { getPrompt, listImagesFor } from '../../../store/prompts.ts';
import { idParam } from '../../list-query.ts';
import { presentPrompt } from '../../presenters/prompt.ts';

export const EVENTS_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;

export async function promptEventRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };

  app.get('/prompts/:id/events', async (req, reply) => {
    const first = await loadOwnPrompt(svc, req.actor, idParam(req.params)); // 404 before the stream starts
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
    let last = '';
    let lastWrite = Date.now();
    let closed = false;
    req.raw.on('close', () => {
      closed = true;
    });
    let p = first;
    while (!closed) {
      const state = {
        id: p.id,
        status: p.status,
        progress: p.progress,
        phase: p.phase,
        step: p.progress_step,
        total: p.progress_total,
      };
      const key = JSON.stringify(state);
      if (key !== last) {
        send('progress', state);
        last = key;
        lastWrite = Date.now();
      }
      if (isPromptFinal(p.status)) {
        const images = await listImagesFor(svc.db, [p.id]);
        send('done', presentPrompt(p, images, req.actor.presentation, ctx));
        break;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        res.write(': keepalive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((r) => setTimeout(r, EVENTS_POLL_MS));
      const next = await getPrompt(svc.db, p.id);
      if (!next) {
        send('deleted', { id: p.id });
        break;
      }
      p = next;
    }
    res.end();
  });
}
