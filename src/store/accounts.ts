// Accounts, API keys (stored as sha256 hashes: keys are 32 random bytes, so a fast hash is enough) and settings.
import { createHash } from 'node:crypto';
import { param, runCached } from './compiled-queries.ts';
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
  return findActiveKeyByHash(db, hashApiKey(key));
}

async function findActiveKeyByHash(db: Db, keyHash: string): Promise<ApiKey | undefined> {
  const rows = await runCached(
    db,
    'active-key',
    (d) =>
      d
        .selectFrom('api_keys')
        .selectAll()
        .where('key_hash', '=', param<string>(0))
        .where('revoked_at', 'is', null),
    [keyHash],
  );
  return rows[0];
}

/** Bumped by every revocation through a Db, so that caches over that Db drop revoked keys at once. */
const revocations = new WeakMap<Db, number>();

/**
 * Live keys by hash, each remembered for `ttlMs` (the auth hook's per-request lookup, bench/http-load). A key revoked
 * through the same Db is dropped at once; one revoked by another process (`atelier keys revoke` beside a running
 * server) keeps working here for at most `ttlMs`. Unknown keys are never cached, so guessing cannot fill it.
 */
export class ActiveKeyCache {
  private readonly entries = new Map<string, { key: ApiKey; until: number }>();
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
  ) {}

  async find(key: string, now = Date.now()): Promise<ApiKey | undefined> {
    const hash = hashApiKey(key);
    const gen = revocations.get(this.db) ?? 0;
    if (gen !== this.generation) {
      this.entries.clear();
      this.generation = gen;
    }
    const hit = this.entries.get(hash);
    if (hit && hit.until > now) return hit.key;
    this.entries.delete(hash);
    const found = await findActiveKeyByHash(this.db, hash);
    if (found && this.ttlMs > 0 && (revocations.get(this.db) ?? 0) === gen)
      this.entries.set(hash, { key: found, until: now + this.ttlMs });
    return found;
  }

  /** Record last_used_at (to the minute: one write per key per minute, not one per request). */
  async touch(key: ApiKey, now = Date.now()): Promise<void> {
    if (key.last_used_at && now - Date.parse(key.last_used_at) <= 60_000) return;
    key.last_used_at = nowIso(now);
    await touchApiKey(this.db, key.id, key.last_used_at);
  }
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
  revocations.set(db, (revocations.get(db) ?? 0) + 1);
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
