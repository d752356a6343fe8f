// A crash between storing a prompt row and enqueuing its job must not leave the prompt queued forever: workers sweep
// for jobless queued rows (src/jobs/orphans.ts). The crash is simulated by deleting the job row after the create.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openRuntime } from '../../src/cli/runtime.ts';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { JOB_PROMPT } from '../../src/domain/context.ts';
import { enqueueOrphans } from '../../src/jobs/orphans.ts';
import { nowIso } from '../../src/store/db.ts';
import { harness, waitFor } from './helpers.ts';

test('a queued prompt whose job was lost is enqueued again, once, and runs', async () => {
  const h = await harness({ workerInProcess: false });
  try {
    const base = await addBaseTune(h.rt.svc, { title: 'base', branch: 'fast' });
    const create = async () => {
      const r = await h.req({
        method: 'POST',
        url: `/tunes/${base.id}/prompts`,
        payload: { prompt: { text: 'a lighthouse', num_images: 1 } },
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json().id as number;
    };
    const lost = await create();
    const recent = await create();
    const db = h.rt.svc.db;
    await db.deleteFrom('jobs').where('subject_id', 'in', [lost, recent]).execute();
    await db
      .updateTable('prompts')
      .set({ created_at: nowIso(Date.now() - 5 * 60_000) })
      .where('id', '=', lost)
      .execute();

    // the recent one may still be between its two writes: left alone
    const first = await enqueueOrphans(h.rt.svc, 60_000);
    assert.deepEqual(first, { prompts: [lost], tunes: [] });
    assert.deepEqual([...(await h.rt.svc.queue.subjectsWithJobs(JOB_PROMPT, [lost, recent]))], [lost]);
    assert.deepEqual(await enqueueOrphans(h.rt.svc, 60_000), { prompts: [], tunes: [] }, 'never twice');

    // a worker process started later runs it (its sweeper also picks up the recent one once it is old enough)
    const rt = await openRuntime(
      { ...h.config, workerInProcess: true },
      { outboundLookup: async () => ['127.0.0.1'] },
    );
    try {
      const done = await waitFor(async () => {
        const p = (await h.req({ method: 'GET', url: `/prompts/${lost}` })).json();
        return p.status === 'completed' && p;
      }, 'the lost prompt to complete');
      assert.equal(done.images.length, 1);
      const r = await h.req({ method: 'GET', url: `/prompts/${recent}` });
      assert.equal(r.json().status, 'queued', 'the recent row stays queued until the grace has passed');
    } finally {
      await rt.close();
    }
  } finally {
    await h.close();
  }
});

test('a queued tune whose training job was lost is enqueued again', async () => {
  const h = await harness({ workerInProcess: false });
  try {
    const images = [0, 1, 2, 3].map(
      () =>
        'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC',
    );
    const r = await h.req({
      method: 'POST',
      url: '/tunes',
      payload: { tune: { title: 'lost tune', name: 'man', branch: 'fast', images } },
    });
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json().id as number;
    const db = h.rt.svc.db;
    await db.deleteFrom('jobs').where('subject_id', '=', id).execute();
    await db
      .updateTable('tunes')
      .set({ created_at: nowIso(Date.now() - 5 * 60_000) })
      .where('id', '=', id)
      .execute();
    assert.deepEqual(await enqueueOrphans(h.rt.svc, 60_000), { prompts: [], tunes: [id] });
  } finally {
    await h.close();
  }
});
