// Persisted callback deliveries: one row per event, retried until delivered or too old.
import { type Db, nowIso } from './db.ts';
import type { WebhookDelivery } from './schema.ts';

export async function insertDelivery(
  db: Db,
  d: Pick<WebhookDelivery, 'account_id' | 'event_id' | 'event_type' | 'subject_id' | 'url' | 'body'>,
): Promise<WebhookDelivery> {
  const now = nowIso();
  return db
    .insertInto('webhook_deliveries')
    .values({ ...d, status: 'pending', attempts: 0, next_attempt_at: now, created_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Lock up to `n` due deliveries for `lockMs` (so a second dispatcher skips them) and return them. */
export async function lockDueDeliveries(db: Db, n: number, lockMs: number): Promise<WebhookDelivery[]> {
  const now = Date.now();
  const due = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', nowIso(now))
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', nowIso(now))]))
    .orderBy('next_attempt_at')
    .limit(n)
    .execute();
  const out: WebhookDelivery[] = [];
  for (const { id } of due) {
    const row = await db
      .updateTable('webhook_deliveries')
      .set({ locked_until: nowIso(now + lockMs) })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', nowIso(now))]))
      .returningAll()
      .executeTakeFirst();
    if (row) out.push(row);
  }
  return out;
}

export async function recordDeliveryAttempt(
  db: Db,
  id: number,
  r: { ok: boolean; status: number | null; error: string | null; nextAttemptAt: string | null },
): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      last_status: r.status,
      last_error: r.error,
      locked_until: null,
      status: r.ok ? 'delivered' : r.nextAttemptAt ? 'pending' : 'failed',
      delivered_at: r.ok ? nowIso() : null,
      next_attempt_at: r.nextAttemptAt ?? nowIso(),
    }))
    .where('id', '=', id)
    .execute();
}

export async function listDeliveries(
  db: Db,
  accountId: number,
  limit: number,
  beforeId?: number,
): Promise<WebhookDelivery[]> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('account_id', '=', accountId);
  if (beforeId !== undefined) q = q.where('id', '<', beforeId);
  return q.orderBy('id', 'desc').limit(limit).execute();
}

export async function nextDeliveryDueAt(db: Db): Promise<string | undefined> {
  const r = await db
    .selectFrom('webhook_deliveries')
    .select((eb) => eb.fn.min('next_attempt_at').as('next'))
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return (r?.next as string | null) ?? undefined;
}
