// Packs (CLIENTS.md items 34–36): GET /packs (own), GET /gallery/packs (operator-loaded), GET /p/:slug_or_id,
// POST /packs, and POST /p/:slug_or_id/tunes (a tune plus the pack's prompts). Gallery packs from
// ATELIER_PACKS_FILE are loaded (upserted by slug) when the plugin registers.

import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { createPack, loadPacksFile, loadVisiblePack, runPack } from '../../../domain/packs.ts';
import { tuneQueuePositions } from '../../../domain/queue-positions.ts';
import type { Pack } from '../../../store/packs.ts';
import { listGalleryPacks, listOwnPacks, listPackPrompts } from '../../../store/packs.ts';
import { listTuneImages } from '../../../store/tunes.ts';
import { unwrap } from '../../plugins/body.ts';
import { presentTune } from '../../presenters/tune.ts';
import { tuneCreateInput } from '../tunes/tunes.ts';
import { presentPack } from './present.ts';

export async function packRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  if (svc.config.packsFile) {
    const slugs = await loadPacksFile(svc.db, svc.config.packsFile);
    app.log.info({ file: svc.config.packsFile, packs: slugs }, 'gallery packs loaded');
  }
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  const presentAll = async (packs: Pack[]) => {
    const prompts = await listPackPrompts(
      svc.db,
      packs.map((p) => p.id),
    );
    return packs.map((p) => presentPack(p, prompts));
  };

  app.get('/packs', async (req) => presentAll(await listOwnPacks(svc.db, req.actor.accountId)));
  app.get('/gallery/packs', async () => presentAll(await listGalleryPacks(svc.db)));

  app.get('/p/:slug', async (req) => {
    const pack = await loadVisiblePack(svc, req.actor, (req.params as { slug: string }).slug);
    return presentPack(pack, await listPackPrompts(svc.db, [pack.id]), { withPrompts: true });
  });

  app.post('/packs', async (req, reply) => {
    const pack = await createPack(svc, req.actor, unwrap(req.body, 'pack'));
    return reply
      .code(201)
      .send(presentPack(pack, await listPackPrompts(svc.db, [pack.id]), { withPrompts: true }));
  });

  app.post('/p/:slug/tunes', async (req, reply) => {
    const pack = await loadVisiblePack(svc, req.actor, (req.params as { slug: string }).slug);
    const { tune, created } = await runPack(svc, req.actor, pack, req.body, tuneCreateInput(req.body));
    return reply
      .code(created ? 201 : 200)
      .send(
        presentTune(
          tune,
          await listTuneImages(svc.db, tune.id),
          ctx,
          (await tuneQueuePositions(svc, [tune])).get(tune.id),
        ),
      );
  });
}
