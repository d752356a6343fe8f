// What only the pg-boss adapter promises beyond the JobQueue contract: an enqueue on one instance (another
// machine) wakes the others through LISTEN/NOTIFY, also after their LISTEN connection was cut; finished jobs older
// than keepFinishedDays are deleted; ids map to pg-boss uuids and back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { jobIdOfUuid, uuidOfJobId } from '../../src/jobs/pgboss/ids.ts';
import { PgBossQueue } from '../../src/jobs/pgboss-queue.ts';
import { waitFor } from '../api/helpers.ts';
import { pgUnavailable, scratchDatabase } from './queue-pg.ts';

const OPTS = { leaseMs: 30_000, maxAttempts: 3, retryBaseMs: 0, types: ['prompt'] };

test('job ids map to pg-boss uuids and back', () => {
  for (const id of [0, 1, 255, 123_456_789, 2 ** 48 - 1]) assert.equal(jobIdOfUuid(uuidOfJobId(id)), id);
  assert.match(uuidOfJobId(42), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.throws(() => uuidOfJobId(-1));
  assert.throws(() => jobIdOfUuid('6f1c2e4a-0000-4000-8000-000000000001'));
});

describe('pg-boss adapter specifics', { skip: await pgUnavailable() }, () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
  let a: PgBossQueue;
  let b: PgBossQueue;
  let admin: pg.Client;
  before(async () => {
    scratch = await scratchDatabase('atelier_qboss');
    a = await PgBossQueue.open({ connectionString: scratch.url, ...OPTS });
    b = await PgBossQueue.open({ connectionString: scratch.url, ...OPTS });
    admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
    await a?.close();
    await b?.close();
    await scratch?.drop();
  });

  test('an enqueue on one instance wakes another, also after its LISTEN connection was cut', async () => {
    let woken = 0;
    const off = b.on('enqueued', () => woken++);
    await a.enqueue({ type: 'prompt', accountId: 1, subjectId: 1 });
    await waitFor(async () => woken > 0, 'b woken by a NOTIFY');
    const { rows } = await admin.query<{ n: number }>(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
       where datname = current_database() and query ilike 'listen %'`,
    );
    assert.equal(rows[0]!.n, 2, 'both LISTEN connections cut');
    // Wait until b listens again (its reconnect emits one wake-up of its own), then enqueue once more.
    const before = woken;
    await waitFor(async () => woken > before, 'b re-listened');
    const reconnected = woken;
    await a.enqueue({ type: 'prompt', accountId: 1, subjectId: 2 });
    await waitFor(async () => woken > reconnected, 'b woken after the reconnect');
    off();
    const job = await b.claim('w', ['prompt']);
    assert.equal(job?.subjectId, 1);
  });

  test('subjectsWithJobs names the subjects that have a job of that type', async () => {
    await a.enqueue({ type: 'prompt', accountId: 5, subjectId: 501 });
    await a.enqueue({ type: 'train', accountId: 5, subjectId: 502 });
    assert.deepEqual([...(await a.subjectsWithJobs('prompt', [501, 502, 503]))], [501]);
    assert.deepEqual([...(await a.subjectsWithJobs('prompt', []))], []);
    await a.cancel('prompt', 501);
    await a.cancel('train', 502);
  });

  test('finished jobs older than keepFinishedDays are deleted; newer ones and live ones stay', async () => {
    const c = await PgBossQueue.open({ connectionString: scratch.url, ...OPTS, keepFinishedDays: 1 });
    try {
      const old = await c.enqueue({ type: 'prompt', accountId: 9, subjectId: 90 });
      const recent = await c.enqueue({ type: 'prompt', accountId: 9, subjectId: 91 });
      const live = await c.enqueue({
        type: 'prompt',
        accountId: 9,
        subjectId: 92,
        runAt: new Date(Date.now() + 3_600_000),
      });
      await admin.query(
        `update pgboss.job set state = 'completed', completed_on = now() - interval '2 days' where id = $1`,
        [uuidOfJobId(old)],
      );
      await admin.query(`update pgboss.job set state = 'completed', completed_on = now() where id = $1`, [
        uuidOfJobId(recent),
      ]);
      await c.reapExpired();
      const { rows } = await admin.query<{ id: string }>('select id from pgboss.job where id = any($1)', [
        [old, recent, live].map(uuidOfJobId),
      ]);
      assert.deepEqual(
        rows.map((r) => jobIdOfUuid(r.id)).sort((x, y) => x - y),
        [recent, live],
      );
    } finally {
      await c.close();
    }
  });
});
