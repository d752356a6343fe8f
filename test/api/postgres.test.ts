// The same service on PostgreSQL (ATELIER_DATABASE_URL): one end-to-end pass through the routes whose SQL differs
// most between dialects (returning, upserts, LIKE, fairness ordering). Skipped when no PostgreSQL is reachable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { type Opened, storeTargets } from '../unit/store/targets.ts';
import { completedPrompt, type Harness, harness, receiver, trainedTune } from './helpers.ts';

const pgTarget = (await storeTargets()).find((t) => t.name === 'postgres')!;

describe('API on PostgreSQL', { skip: pgTarget.skip }, () => {
  let h: Harness;
  let opened: Opened;
  before(async () => {
    opened = await pgTarget.open();
    const url = await opened.db
      .selectNoFrom((eb) => eb.fn<string>('current_database', []).as('name'))
      .executeTakeFirstOrThrow();
    await opened.db.destroy();
    const admin = new URL(process.env.ATELIER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    admin.pathname = `/${url.name}`;
    h = await harness({ databaseUrl: admin.toString() });
  });
  after(async () => {
    await h?.close();
    await opened?.cleanup();
  });

  test('tune → prompt → images, filters, idempotency, callbacks', async () => {
    const rx = await receiver();
    try {
      const t = await trainedTune(h, { callback: `${rx.base}/t?a=1` });
      const r = await h.req({
        method: 'POST',
        url: `/tunes/${t.id}/prompts`,
        headers: { 'idempotency-key': 'pg-1' },
        payload: { prompt: { text: 'ohwx man 100% real_', num_images: 2, seed: 4294967295 } },
      });
      assert.equal(r.statusCode, 201, r.body);
      const again = await h.req({
        method: 'POST',
        url: `/tunes/${t.id}/prompts`,
        headers: { 'idempotency-key': 'pg-1' },
        payload: { prompt: { text: 'ohwx man 100% real_', num_images: 2, seed: 4294967295 } },
      });
      assert.equal(again.json().id, r.json().id);
      const p = await completedPrompt(h, `/prompts/${r.json().id}`);
      assert.equal(p.images.length, 2);
      assert.equal(p.seed, 4294967295);
      assert.equal(
        (await h.app.inject({ method: 'GET', url: new URL(p.images[0].url).pathname })).statusCode,
        200,
      );
      assert.equal((await h.req({ method: 'GET', url: '/prompts?text=100%25' })).json().length, 1);
      assert.equal((await h.req({ method: 'GET', url: '/prompts?text=REAL_' })).json().length, 1);
      assert.equal(
        (await h.req({ method: 'GET', url: '/prompts?text=10_' })).json().length,
        0,
        '_ is literal',
      );
      assert.equal((await h.req({ method: 'GET', url: `/prompts/${p.id}`, key: h.keyB })).statusCode, 404);
      await completedPrompt(h, `/prompts/${p.id}`);
      const d = await (async () => {
        for (let i = 0; i < 400; i++) {
          if (rx.got.length) return rx.got[0];
          await new Promise((res) => setTimeout(res, 15));
        }
        throw new Error('no callback');
      })();
      assert.equal(d.url, '/t?a=1');
    } finally {
      await rx.close();
    }
  });

  test('a base model with a hard-coded id does not make later tune ids collide', async () => {
    const before = await trainedTune(h);
    const base = await addBaseTune(h.rt.svc, { id: before.id + 5, title: 'pinned base', branch: 'fast' });
    assert.equal(base.id, before.id + 5);
    const later = await trainedTune(h);
    assert.ok(later.id > base.id, `next id ${later.id} must come after the pinned ${base.id}`);
  });
});
