// GET /tunes/:id/events (ext): Server-Sent Events with the tune's status and training progress, ending with a
// `done` event carrying the final tune object (trained or failed), like the prompts' stream
// (src/api/routes/prompts/events.ts). It watches the row, so it works when the trainer runs in another process or
// on another machine, and sends only changes; a comment line every 15 s keeps proxies from closing the stream.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { tuneQueuePositions } from '../../../domain/queue-positions.ts';
import { loadOwnTune } from '../../../domain/tunes.ts';
import type { Tune } from '../../../store/schema.ts';
import { getTune, listTuneImages } from '../../../store/tunes.ts';
import { idParam } from '../../list-query.ts';
import { presentTune } from '../../presenters/tune.ts';
import { streamRow } from '../../sse/watch-row.ts';

const isTuneFinal = (t: Tune) => t.status === 'trained' || t.status === 'failed';

export async function tuneEventRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };

  // The watched row carries its training job's queue position, which the tune row itself does not hold.
  const withPosition = async (t: Tune) => ({
    t,
    position: (await tuneQueuePositions(svc, [t])).get(t.id) ?? null,
  });

  app.get('/tunes/:id/events', async (req, reply) => {
    const first = await loadOwnTune(svc, req.actor, idParam(req.params)); // 404 before the stream starts
    await streamRow(req, reply, await withPosition(first), {
      id: ({ t }) => t.id,
      state: ({ t, position }) => ({
        id: t.id,
        status: t.status,
        progress: t.progress,
        phase: t.phase,
        queue_position: t.status === 'queued' ? position : null,
      }),
      isFinal: ({ t }) => isTuneFinal(t),
      present: async ({ t }) => presentTune(t, await listTuneImages(svc.db, t.id), ctx),
      reload: async (id) => {
        const t = await getTune(svc.db, id);
        return t && withPosition(t);
      },
    });
  });
}
