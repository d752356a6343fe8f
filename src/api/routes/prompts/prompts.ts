// /prompts and /tunes/:tune_id/prompts routes (API.md §3, CLIENTS.md items 14, 25–29).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import {
  cancelPrompt,
  createPrompt,
  deletePrompt,
  loadOwnPrompt,
  loadOwnPromptWithImages,
} from '../../../domain/prompts.ts';
import { promptQueuePositions } from '../../../domain/queue-positions.ts';
import { loadVisibleTune } from '../../../domain/tunes.ts';
import { listImagesFor, listPromptsWithImages, type PromptWithImages } from '../../../store/prompts.ts';
import type { Prompt } from '../../../store/schema.ts';
import { idParam, parsePage, queryInt, queryString } from '../../list-query.ts';
import { unwrap } from '../../plugins/body.ts';
import { presentPrompt } from '../../presenters/prompt.ts';

export const MAX_PROMPT_OFFSET = 10_000;

export async function promptRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  /** Prompts with their images (read together, see store/prompts.ts) → JSON, with queue positions. */
  const presentLoaded = async (req: FastifyRequest, items: PromptWithImages[]) => {
    const positions = await promptQueuePositions(
      svc,
      items.map((i) => i.prompt),
    );
    return items.map(({ prompt, images }) =>
      presentPrompt(prompt, images, req.actor.presentation, ctx, {
        queuePosition: positions.get(prompt.id),
      }),
    );
  };
  const presentAll = async (req: FastifyRequest, prompts: Prompt[]) => {
    const images = await listImagesFor(
      svc.db,
      prompts.map((p) => p.id),
    );
    return presentLoaded(
      req,
      prompts.map((prompt) => ({ prompt, images: images.filter((i) => i.prompt_id === prompt.id) })),
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
    return presentLoaded(
      req,
      await listPromptsWithImages(svc.db, req.actor.accountId, page, {
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
    return presentLoaded(req, await listPromptsWithImages(svc.db, req.actor.accountId, page, filters));
  });

  // the GETs clients poll: prompt and images in one query
  app.get('/tunes/:tune_id/prompts/:id', async (req) => {
    const id = idParam(req.params);
    const tuneId = idParam(req.params, 'tune_id');
    return (await presentLoaded(req, [await loadOwnPromptWithImages(svc, req.actor, id, tuneId)]))[0];
  });
  app.get(
    '/prompts/:id',
    async (req) =>
      (await presentLoaded(req, [await loadOwnPromptWithImages(svc, req.actor, idParam(req.params))]))[0],
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
