// Packs, likes and the prompts_callback claim on PostgreSQL: the ecosystem SQL (upsert by slug, transactions,
// conditional claim, the liked subquery) in the second dialect. Skipped when no PostgreSQL is reachable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Opened, storeTargets } from '../unit/store/targets.ts';
import { completedPrompt, dataUrl, type Harness, harness, type Json, receiver, waitFor } from './helpers.ts';

const pgTarget = (await storeTargets()).find((t) => t.name === 'postgres')!;

describe('packs and likes on PostgreSQL', { skip: pgTarget.skip }, () => {
  let h: Harness;
  let opened: Opened;
  before(async () => {
    opened = await pgTarget.open();
    const db = await opened.db
      .selectNoFrom((eb) => eb.fn<string>('current_database', []).as('name'))
      .executeTakeFirstOrThrow();
    await opened.db.destroy();
    const url = new URL(process.env.ATELIER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    url.pathname = `/${db.name}`;
    h = await harness({
      databaseUrl: url.toString(),
      packsFile: new URL('../../packs', import.meta.url).pathname,
    });
  });
  after(async () => {
    await h?.close();
    await opened?.cleanup();
  });

  test('gallery, pack run with prompts_callback, likes filter', async () => {
    const gallery = (await h.req({ method: 'GET', url: '/gallery/packs' })).json();
    assert.equal(gallery.length, 2);
    const rx = await receiver();
    try {
      const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
      const r = await h.req({
        method: 'POST',
        url: '/p/natural-light-portraits/tunes',
        payload: {
          tune: { title: 'pg-pack', name: 'dog', branch: 'fast', images },
          prompt_attributes: { num_images: 1 },
          prompts_callback: `${rx.base}/all`,
        },
      });
      assert.equal(r.statusCode, 201, r.body);
      const prompts = (await h.req({ method: 'GET', url: `/tunes/${r.json().id}/prompts` })).json() as Json[];
      assert.equal(prompts.length, 2);
      for (const p of prompts) await completedPrompt(h, `/prompts/${p.id}`);
      const hit = await waitFor(() => rx.got.find((g) => g.url === '/all'), 'prompts_callback');
      assert.equal(JSON.parse(hit.body).length, 2);
      await h.req({ method: 'POST', url: `/prompts/${prompts[0].id}/likes` });
      await h.req({ method: 'POST', url: `/prompts/${prompts[0].id}/likes` });
      const liked = (await h.req({ method: 'GET', url: '/prompts?liked=true' })).json();
      assert.deepEqual(
        liked.map((p: Json) => p.id),
        [prompts[0].id],
      );
    } finally {
      await rx.close();
    }
  });
});
