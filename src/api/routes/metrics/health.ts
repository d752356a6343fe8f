// The deep health check for GET /healthz: the database answers, the job queue answers, and the blob store
// round-trips a small probe object. Each check reports `ok` or its error message; `ok` is true only if all pass.
// (Wiring it into /healthz belongs to src/api/routes/system/system.ts.)
import { randomBytes } from 'node:crypto';
import type { Services } from '../../../domain/context.ts';

export interface Health {
  ok: boolean;
  checks: { database: string; queue: string; storage: string };
}

async function check(fn: () => Promise<void>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export async function checkHealth(svc: Pick<Services, 'db' | 'queue' | 'blobs'>): Promise<Health> {
  const [database, queue, storage] = await Promise.all([
    check(async () => {
      await svc.db.selectFrom('settings').select('key').limit(1).execute();
    }),
    check(async () => {
      await svc.queue.nextDueAt(['train', 'prompt']);
    }),
    check(async () => {
      const key = `health/probe-${process.pid}-${randomBytes(4).toString('hex')}`;
      const data = randomBytes(16);
      await svc.blobs.put(key, data);
      const back = await svc.blobs.get(key);
      await svc.blobs.delete(key);
      if (!back?.equals(data)) throw new Error('storage returned different bytes for the probe');
    }),
  ]);
  return { ok: [database, queue, storage].every((c) => c === 'ok'), checks: { database, queue, storage } };
}
