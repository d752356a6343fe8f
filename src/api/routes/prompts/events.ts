// GET /prompts/:id/events (ext): Server-Sent Events with the prompt's status and per-step progress, ending with a
// `done` event carrying the final prompt object (the loop is src/api/sse/watch-row.ts).
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { isPromptFinal } from '../../../domain/lifecycle.ts';
import { loadOwnPrompt } from '../../../domain/prompts.ts';
import { promptQueuePositions } from '../../../domain/queue-positions.ts';
import { getPrompt, listImagesFor } from '../../../store/prompts.ts';
import type { Prompt } from '../../../store/schema.ts';
import { idParam } from '../../list-query.ts';
import { presentPrompt } from '../../presenters/prompt.ts';
import { streamRow } from '../../sse/watch-row.ts';

export async function promptEventRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };

  // The watched row carries its queue position, which the prompt row itself does not hold.
  const withPosition = async (p: Prompt) => ({
    p,
    position: (await promptQueuePositions(svc, [p])).get(p.id) ?? null,
  });

  app.get('/prompts/:id/events', async (req, reply) => {
    const first = await loadOwnPrompt(svc, req.actor, idParam(req.params)); // 404 before the stream starts
    await streamRow(req, reply, await withPosition(first), {
      id: ({ p }) => p.id,
      state: ({ p, position }) => ({
        id: p.id,
        status: p.status,
        progress: p.progress,
        phase: p.phase,
        step: p.progress_step,
        total: p.progress_total,
        queue_position: p.status === 'queued' ? position : null,
      }),
      isFinal: ({ p }) => isPromptFinal(p.status),
      present: async ({ p }) =>
        presentPrompt(p, await listImagesFor(svc.db, [p.id]), req.actor.presentation, ctx),
      reload: async (id) => {
        const p = await getPrompt(svc.db, id);
        return p && withPosition(p);
      },
    });
  });
}
