// API keys: `sd_` + 32 random bytes (base64url), shown once, stored as sha256 (src/store/accounts.ts).
import { randomBytes } from 'node:crypto';
import { newWebhookSecret } from '../jobs/webhook-signing.ts';
import {
  countApiKeys,
  createAccount,
  findAccountByName,
  getAccount,
  insertApiKey,
} from '../store/accounts.ts';
import type { Db } from '../store/db.ts';
import type { ApiKey, Presentation } from '../store/schema.ts';

export function newApiKey(): string {
  return `sd_${randomBytes(32).toString('base64url')}`;
}

export interface CreatedKey {
  key: string; // the secret, shown once
  row: ApiKey;
  accountName: string;
}

/** A key for an existing account (by id or name), or for a new account when none is named or found by name. */
export async function createApiKey(
  db: Db,
  opts: { account?: string; presentation?: Presentation } = {},
): Promise<CreatedKey> {
  let account =
    opts.account === undefined
      ? undefined
      : /^\d+$/.test(opts.account)
        ? await getAccount(db, Number(opts.account))
        : await findAccountByName(db, opts.account);
  if (!account && opts.account !== undefined && /^\d+$/.test(opts.account))
    throw new Error(`no account with id ${opts.account}`);
  account ??= await createAccount(
    db,
    opts.account ?? `account-${randomBytes(3).toString('hex')}`,
    newWebhookSecret(),
  );
  const key = newApiKey();
  const row = await insertApiKey(db, account.id, key, opts.presentation ?? 'native');
  return { key, row, accountName: account.name };
}

/** First start: when no key exists at all, create one (printed once by the caller). */
export async function ensureFirstKey(db: Db): Promise<CreatedKey | null> {
  if ((await countApiKeys(db)) > 0) return null;
  return createApiKey(db, { account: 'default' });
}
