// Runs the JobQueue contract (queue.case.ts) on every implementation: the embedded queue on SQLite and on
// PostgreSQL, and the pg-boss adapter. Each subject gets its own fresh database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EmbeddedQueue } from '../../src/jobs/embedded-queue.ts';
import { PgBossQueue } from '../../src/jobs/pgboss-queue.ts';
import { type Db, openDatabase } from '../../src/store/db.ts';
import { type QueueImplementation, type QueueOptions, queueConformance } from './queue.case.ts';
import { pgUnavailable, scratchDatabase } from './queue-pg.ts';

const pgSkip = await pgUnavailable();

function embedded(db: Db, o: QueueOptions, close: () => Promise<void>) {
  return {
    queue: new EmbeddedQueue(db, o),
    async expireLeases() {
      await db
        .updateTable('jobs')
        .set({ lease_expires_at: '2000-01-01T00:00:00.000Z' })
        .where('status', '=', 'running')
        .execute();
    },
    close,
  };
}

const implementations: QueueImplementation[] = [
  {
    name: 'embedded on SQLite',
    async open(o) {
      const dir = mkdtempSync(join(tmpdir(), 'atelier-queue-'));
      const db = await openDatabase(join(dir, 'q.db'));
      return embedded(db, o, async () => {
        await db.destroy();
        rmSync(dir, { recursive: true, force: true });
      });
    },
  },
  {
    name: 'embedded on PostgreSQL',
    skip: pgSkip,
    async open(o) {
      const scratch = await scratchDatabase('atelier_qconf');
      const db = await openDatabase(scratch.url);
      return embedded(db, o, async () => {
        await db.destroy();
        await scratch.drop();
      });
    },
  },
  {
    name: 'pg-boss',
    skip: pgSkip,
    async open(o) {
      const scratch = await scratchDatabase('atelier_qconf');
      const queue = await PgBossQueue.open({ connectionString: scratch.url, ...o });
      return {
        queue,
        async expireLeases() {
          const c = new pg.Client({ connectionString: scratch.url });
          await c.connect();
          await c.query(`update pgboss.job set started_on = now() - interval '1 day' where state = 'active'`);
          await c.end();
        },
        async close() {
          await queue.close();
          await scratch.drop();
        },
      };
    },
  },
];

for (const impl of implementations) queueConformance(impl);
