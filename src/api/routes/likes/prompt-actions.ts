// Prompt actions (CLIENTS.md item 29 and the CLI's prompt commands): like / unlike, duplicate with overrides, and
// PATCH. Each answers the prompt object with (ext) `liked` for the caller.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { duplicatePrompt, patchPrompt, setLiked } from '../../../domain/prompt-actions.ts';
import { promptQueuePositions } from '../../../domain/queue-positions.ts';
import { likedAmong } from '../../../store/likes.ts';
import { listImagesFor } from '../../../store/prompts.ts';
import type { Prompt } from '../../../store/schema.ts';
import { idParam } from '../../list-query.ts';
import { unwrap } from '../../plugins/body.ts';
import { presentPrompt } from '../../presenters/prompt.ts';

export async function promptActionRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  const present = async (req: FastifyRequest, p: Prompt) =>
    presentPrompt(p, await listImagesFor(svc.db, [p.id]), req.actor.presentation, ctx, {
      liked: (await likedAmong(svc.db, req.actor.accountId, [p.id])).has(p.id),
      queuePosition: (await promptQueuePositions(svc, [p])).get(p.id),
    });

  app.post('/prompts/:id/likes', async (req) =>
    present(req, await setLiked(svc, req.actor, idParam(req.params), true)),
  );
  app.delete('/prompts/:id/likes', async (req) =>
    present(req, await setLiked(svc, req.actor, idParam(req.params), false)),
  );

  app.post('/prompts/:id/duplicate', async (req, reply) => {
    const copy = await duplicatePrompt(svc, req.actor, idParam(req.params), unwrap(req.body, 'prompt'));
    return reply.code(201).send(await present(req, copy));
  });

  const patch = async (req: FastifyRequest) => {
    const params = req.params as Record<string, string>;
    const tuneId = params.tune_id === undefined ? undefined : idParam(params, 'tune_id');
    return present(
      req,
      await patchPrompt(svc, req.actor, idParam(params), tuneId, unwrap(req.body, 'prompt')),
    );
  };
  app.patch('/tunes/:tune_id/prompts/:id', patch);
  app.patch('/prompts/:id', patch);
}
