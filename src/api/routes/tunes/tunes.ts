// /tunes routes (API.md §2). Handlers: load → authorize by account → domain command → present.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { tuneQueuePositions } from '../../../domain/queue-positions.ts';
import { createTune, deleteTune, loadOwnTune, loadVisibleTune, updateTune } from '../../../domain/tunes.ts';
import type { Tune } from '../../../store/schema.ts';
import { listTuneImages, listTuneImagesFor, listTunes } from '../../../store/tunes.ts';
import { idParam, parsePage, queryString } from '../../list-query.ts';
import { unwrap } from '../../plugins/body.ts';
import { presentTune } from '../../presenters/tune.ts';

export const MAX_TUNE_OFFSET = 200;

/** Fields the seed's JSON example sends beside `tune` rather than inside it. */
const TOP_LEVEL_TUNE_FIELDS = [
  'images',
  'image_urls',
  'steps',
  'face_crop',
  'callback',
  'prompts_attributes',
];

export function tuneCreateInput(body: unknown): Record<string, unknown> {
  const input = unwrap(body, 'tune');
  const top = (body ?? {}) as Record<string, unknown>;
  if (top.tune && typeof top.tune === 'object')
    for (const k of TOP_LEVEL_TUNE_FIELDS)
      if (input[k] === undefined && top[k] !== undefined) input[k] = top[k];
  return input;
}

export async function tuneRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  const present = async (t: Tune) =>
    presentTune(t, await listTuneImages(svc.db, t.id), ctx, (await tuneQueuePositions(svc, [t])).get(t.id));

  app.post('/tunes', async (req, reply) => {
    const { tune, created } = await createTune(svc, req.actor, tuneCreateInput(req.body));
    return reply.code(created ? 201 : 200).send(await present(tune));
  });

  app.get('/tunes', async (req) => {
    const page = parsePage(req.query, MAX_TUNE_OFFSET);
    const tunes = await listTunes(svc.db, req.actor.accountId, page, {
      title: queryString(req.query, 'title'),
      branch: queryString(req.query, 'branch'),
      modelType: queryString(req.query, 'model_type'),
      names: [(req.query as Record<string, unknown>)['name[]'], (req.query as Record<string, unknown>).name]
        .flat()
        .filter((n): n is string => typeof n === 'string' && n !== ''),
    });
    const [images, positions] = await Promise.all([
      listTuneImagesFor(
        svc.db,
        tunes.map((t) => t.id),
      ),
      tuneQueuePositions(svc, tunes),
    ]);
    return tunes.map((t) =>
      presentTune(
        t,
        images.filter((i) => i.tune_id === t.id),
        ctx,
        positions.get(t.id),
      ),
    );
  });

  app.get('/tunes/:id', async (req) => present(await loadVisibleTune(svc, req.actor, idParam(req.params))));

  const patch = async (req: FastifyRequest) =>
    present(await updateTune(svc, req.actor, idParam(req.params), unwrap(req.body, 'tune')));
  app.patch('/tunes/:id', patch);
  app.put('/tunes/:id', patch);

  app.delete('/tunes/:id', async (req) => {
    const id = idParam(req.params);
    const before = await present(await loadOwnTune(svc, req.actor, id));
    await deleteTune(svc, req.actor, id);
    return before;
  });
}
