// /prompts and /tunes/:tune_id/prompts routes (API.md §3, CLIENTS.md items 14, 25–29).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { cancelPrompt, createPrompt, deletePrompt, loadOwnPrompt } from '../../../domain/prompts.ts';
import { promptQueuePositions } from '../../../domain/queue-positions.ts';
import { loadVisibleTune } from '../../../domain/tunes.ts';
import { listImagesFor, listPrompts } from '../../../store/prompts.ts';
import type { Prompt } from '../../../store/schema.ts';
import { idParam, parsePage, queryInt, queryString } from '../../list-query.ts';
import { unwrap } from '../../plugins/body.ts';
import { presentPrompt } from '../../presenters/prompt.ts';

export const MAX_PROMPT_OFFSET = 10_000;

export async function promptRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  const presentAll = async (req: FastifyRequest, prompts: Prompt[]) => {
    const [images, positions] = await Promise.all([
      listImagesFor(
        svc.db,
        prompts.map((p) => p.id),
      ),
      promptQueuePositions(svc, prompts),
    ]);
    return prompts.map((p) =>
      presentPrompt(
        p,
        images.filter((i) => i.prompt_id === p.id),
        req.actor.presentation,
        ctx,
        { queuePosition: positions.get(p.id) },
      ),
    );
  };
  const present = async (req: FastifyRequest, p: Prompt) => (await presentAll(req, [p]))[0];

  app.post('/tunes/:tune_id/prompts', async (req, reply) => {
    const prompt = await createPrompt(
      svc,
      req.actor,
      idParam(req.params, 'tune_id'),
      unwrap(req.body, 'prompt'),
    );
    return reply.code(201).send(await present(req, prompt));
  });

  app.get('/tunes/:tune_id/prompts', async (req) => {
    const tune = await loadVisibleTune(svc, req.actor, idParam(req.params, 'tune_id'));
    const page = parsePage(req.query, MAX_PROMPT_OFFSET);
    return presentAll(
      req,
      await listPrompts(svc.db, req.actor.accountId, page, {
        tuneId: tune.id,
        text: queryString(req.query, 'text'),
      }),
    );
  });

  app.get('/prompts', async (req) => {
    const page = parsePage(req.query, MAX_PROMPT_OFFSET);
    const liked = queryString(req.query, 'liked');
    const filters = {
      tuneId: queryInt(req.query, 'tune_id'),
      text: queryString(req.query, 'text'),
      liked: liked === undefined ? undefined : /^(1|true|yes)$/i.test(liked),
    };
    return presentAll(req, await listPrompts(svc.db, req.actor.accountId, page, filters));
  });

  app.get('/tunes/:tune_id/prompts/:id', async (req) =>
    present(req, await loadOwnPrompt(svc, req.actor, idParam(req.params), idParam(req.params, 'tune_id'))),
  );
  app.get('/prompts/:id', async (req) =>
    present(req, await loadOwnPrompt(svc, req.actor, idParam(req.params))),
  );

  const remove = async (req: FastifyRequest) => {
    const tuneId =
      (req.params as Record<string, string>).tune_id === undefined
        ? undefined
        : idParam(req.params, 'tune_id');
    const before = await present(req, await loadOwnPrompt(svc, req.actor, idParam(req.params), tuneId));
    await deletePrompt(svc, req.actor, idParam(req.params), tuneId);
    return before;
  };
  app.delete('/tunes/:tune_id/prompts/:id', remove);
  app.delete('/prompts/:id', remove);

  app.post('/prompts/:id/cancel', async (req) =>
    present(req, await cancelPrompt(svc, req.actor, idParam(req.params))),
  );
}
