// Failure mode: the worker process is killed with SIGKILL while it works through 20 prompts, then a new worker
// starts. Every prompt must end `completed` with exactly its images, every job completed exactly once, nothing left
// `processing`. Runs with the embedded queue on SQLite and with pg-boss on PostgreSQL. A short lease (env) lets the
// new worker take the dead one's job back quickly.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { completedPrompt, type Harness, harness, trainedTune, waitFor } from '../api/helpers.ts';
import { pgUnavailable, scratchDatabase } from '../conformance/queue-pg.ts';
import { spawnWorker } from './spawn-worker.ts';

const PROMPTS = 20;
const IMAGES = 2;
const pgSkip = await pgUnavailable();

interface Mode {
  name: string;
  skip?: string;
  setup(): Promise<{
    overrides: Record<string, unknown>;
    env: Record<string, string>;
    drop(): Promise<void>;
  }>;
}

const modes: Mode[] = [
  {
    name: 'embedded queue on SQLite',
    async setup() {
      return { overrides: {}, env: {}, drop: async () => {} };
    },
  },
  {
    name: 'pg-boss on PostgreSQL',
    skip: pgSkip,
    async setup() {
      const db = await scratchDatabase('atelier_fail');
      return {
        overrides: { databaseUrl: db.url, queue: 'pgboss' },
        env: { ATELIER_DATABASE_URL: db.url, ATELIER_QUEUE: 'pgboss' },
        drop: db.drop,
      };
    },
  },
];

for (const mode of modes) {
  describe(`kill -9 of a worker mid-batch: ${mode.name}`, { skip: mode.skip }, () => {
    let h: Harness | undefined;
    let drop = async () => {};
    after(async () => {
      await h?.close();
      await drop();
    });

    test('every prompt completes exactly once after a restart, with no duplicate images', async () => {
      const s = await mode.setup();
      drop = s.drop;
      h = await harness({ workerInProcess: false, ...s.overrides });
      const env = {
        ...s.env,
        ATELIER_DATA_DIR: h.dir,
        ATELIER_JOB_LEASE_MS: '1000',
        ATELIER_JOB_POLL_MS: '50',
        ATELIER_FAST_TRAIN_MS: '20',
        ATELIER_PUBLIC_BASE_URL: h.config.publicBaseUrl,
      };
      const first = await spawnWorker(env);
      const tune = await trainedTune(h);
      const ids: number[] = [];
      for (let i = 0; i < PROMPTS; i++) {
        const r = await h.req({
          method: 'POST',
          url: `/tunes/${tune.id}/prompts`,
          payload: { prompt: { text: `ohwx man ${i}`, num_images: IMAGES, w: 768, h: 768 } },
        });
        assert.equal(r.statusCode, 201, r.body);
        ids.push(r.json().id);
      }
      const status = async () =>
        Promise.all(
          ids.map(async (id) => (await h!.req({ method: 'GET', url: `/prompts/${id}` })).json().status),
        );
      // Kill as soon as the batch is under way: some prompts done, others not.
      await waitFor(async () => (await status()).includes('completed'), 'first prompt completed');
      first.child.kill('SIGKILL');
      assert.equal((await first.exited).signal, 'SIGKILL');
      const atKill = await status();
      assert.ok(
        atKill.filter((s) => s === 'completed').length < PROMPTS,
        `the kill must land mid-batch: ${atKill}`,
      );

      const second = await spawnWorker(env);
      try {
        for (const id of ids) {
          const p = await completedPrompt(h, `/prompts/${id}`);
          assert.equal(p.status, 'completed', `prompt ${id}: ${JSON.stringify(p)}`);
          assert.equal(p.images.length, IMAGES, `prompt ${id} images`);
          assert.equal(new Set(p.images).size, IMAGES, `prompt ${id} distinct images`);
        }
        const images = await h.rt.svc.db
          .selectFrom('images')
          .select(['prompt_id', (eb) => eb.fn.countAll<number>().as('n')])
          .where('prompt_id', 'in', ids)
          .groupBy('prompt_id')
          .execute();
        assert.deepEqual(
          images.map((r) => Number(r.n)),
          ids.map(() => IMAGES),
          'no duplicate image rows',
        );
        const processing = await h.rt.svc.db
          .selectFrom('prompts')
          .select('id')
          .where('status', '=', 'processing')
          .execute();
        assert.deepEqual(processing, []);
        // a job is settled just after its prompt is marked completed, so the killed worker may have completed a
        // prompt without settling its job: that job is settled when it is retaken after its lease expires
        const db = h.rt.svc.db;
        if (!s.overrides.queue) {
          const readJobs = () =>
            db.selectFrom('jobs').select(['subject_id', 'status']).where('type', '=', 'prompt').execute();
          await waitFor(
            async () => (await readJobs()).every((j) => j.status === 'completed'),
            'every prompt job settled',
            60_000,
          ).catch(() => {});
          const jobs = await readJobs();
          assert.equal(jobs.length, PROMPTS, 'one job per prompt');
          assert.ok(
            jobs.every((j) => j.status === 'completed'),
            JSON.stringify(jobs),
          );
        } else {
          const c = h.rt.svc.queue as unknown as {
            depth(): Promise<{ type: string; state: string; count: number }[]>;
          };
          const readDepth = async () => (await c.depth()).filter((d) => d.type === 'prompt');
          await waitFor(
            async () => (await readDepth()).every((d) => d.state === 'completed'),
            'every prompt job settled',
            60_000,
          ).catch(() => {});
          assert.deepEqual(await readDepth(), [{ type: 'prompt', state: 'completed', count: PROMPTS }]);
        }
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    });
  });
}
