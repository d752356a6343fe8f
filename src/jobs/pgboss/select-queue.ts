// ATELIER_QUEUE picks the job queue: `embedded` (rows in the app's database, the default) or `pgboss` (pg-boss on
// the PostgreSQL of ATELIER_DATABASE_URL, for workers on other machines; docs/scale-out.md).
import { type Config, ConfigError } from '../../config.ts';
import type { Db } from '../../store/db.ts';
import { EmbeddedQueue } from '../embedded-queue.ts';
import type { JobQueue } from '../queue.ts';

export interface OpenedQueue {
  queue: JobQueue;
  close(): Promise<void>;
}

export async function openConfiguredQueue(
  config: Config,
  db: Db,
  types: string[],
  onError: (err: unknown) => void,
): Promise<OpenedQueue> {
  const opts = {
    leaseMs: config.jobLeaseMs,
    maxAttempts: config.jobMaxAttempts,
    retryBaseMs: config.jobRetryBaseMs,
  };
  if (config.queue === 'embedded') return { queue: new EmbeddedQueue(db, opts), close: async () => {} };
  if (!config.databaseUrl)
    throw new ConfigError('ATELIER_QUEUE=pgboss needs ATELIER_DATABASE_URL (PostgreSQL)');
  const { PgBossQueue } = await import('../pgboss-queue.ts');
  const queue = await PgBossQueue.open({ connectionString: config.databaseUrl, types, onError, ...opts });
  return { queue, close: () => queue.close() };
}
