// Accounts, API keys (stored as sha256 hashes: keys are 32 random bytes, so a fast hash is enough) and settings.
import { createHash } from 'node:crypto';
import { type Db, nowIso } from './db.ts';
import type { Account, ApiKey, Presentation } from './schema.ts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export async function createAccount(db: Db, name: string, webhookSecret: string): Promise<Account> {
  return db
    .insertInto('accounts')
    .values({ name, webhook_secret: webhookSecret, created_at: nowIso() })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getAccount(db: Db, id: number): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findAccountByName(db: Db, name: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function insertApiKey(
  db: Db,
  accountId: number,
  key: string,
  presentation: Presentation,
): Promise<ApiKey> {
  return db
    .insertInto('api_keys')
    .values({
      account_id: accountId,
      prefix: key.slice(0, 10),
      key_hash: hashApiKey(key),
      presentation,
      created_at: nowIso(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The live (not revoked) key with this secret, and its account. */
export async function findActiveKey(db: Db, key: string): Promise<ApiKey | undefined> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('key_hash', '=', hashApiKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

export async function touchApiKey(db: Db, id: number, at = nowIso()): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function listApiKeys(db: Db): Promise<(ApiKey & { account_name: string })[]> {
  return db
    .selectFrom('api_keys')
    .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
    .selectAll('api_keys')
    .select('accounts.name as account_name')
    .orderBy('api_keys.id')
    .execute();
}

export async function countApiKeys(db: Db): Promise<number> {
  const r = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Revoke by numeric id or by the printed prefix; returns how many keys were revoked. */
export async function revokeApiKey(db: Db, idOrPrefix: string): Promise<number> {
  let q = db.updateTable('api_keys').set({ revoked_at: nowIso() }).where('revoked_at', 'is', null);
  q = /^\d+$/.test(idOrPrefix) ? q.where('id', '=', Number(idOrPrefix)) : q.where('prefix', '=', idOrPrefix);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function getSetting(db: Db, key: string): Promise<string | undefined> {
  const r = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return r?.value;
}

/** Insert if absent and return the stored value (first writer wins across processes). */
export async function ensureSetting(db: Db, key: string, value: string): Promise<string> {
  await db
    .insertInto('settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  return (await getSetting(db, key)) ?? value;
}
