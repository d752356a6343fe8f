// Idempotency-Key records: a placeholder is inserted before the handler runs, then completed with the response.
import { type Db, nowIso } from './db.ts';

export interface IdempotencyRecord {
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
}

/** Insert a placeholder; returns the existing record instead when the key was used before. */
export async function reserveIdempotencyKey(
  db: Db,
  accountId: number,
  key: string,
  requestHash: string,
): Promise<IdempotencyRecord | undefined> {
  const ins = await db
    .insertInto('idempotency_keys')
    .values({ account_id: accountId, key, request_hash: requestHash, created_at: nowIso() })
    .onConflict((oc) => oc.columns(['account_id', 'key']).doNothing())
    .executeTakeFirst();
  if (Number(ins.numInsertedOrUpdatedRows ?? 0) > 0) return undefined;
  return db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response_body'])
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .executeTakeFirst();
}

export async function completeIdempotencyKey(
  db: Db,
  accountId: number,
  key: string,
  statusCode: number,
  body: string,
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ status_code: statusCode, response_body: body })
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .execute();
}

/** A failed request (5xx, or a thrown error) frees its key so the client may retry. */
export async function releaseIdempotencyKey(db: Db, accountId: number, key: string): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .where('status_code', 'is', null)
    .execute();
}
