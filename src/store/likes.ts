// Prompt likes: one row per (account, prompt). Liking twice is the same as liking once.
import { type Db, nowIso } from './db.ts';
import { eco } from './packs.ts';

export async function likePrompt(db: Db, accountId: number, promptId: number): Promise<void> {
  await eco(db)
    .insertInto('prompt_likes')
    .values({ account_id: accountId, prompt_id: promptId, created_at: nowIso() })
    .onConflict((oc) => oc.columns(['account_id', 'prompt_id']).doNothing())
    .execute();
}

export async function unlikePrompt(db: Db, accountId: number, promptId: number): Promise<void> {
  await eco(db)
    .deleteFrom('prompt_likes')
    .where('account_id', '=', accountId)
    .where('prompt_id', '=', promptId)
    .execute();
}

/** Which of these prompts the account likes. */
export async function likedAmong(db: Db, accountId: number, promptIds: number[]): Promise<Set<number>> {
  if (!promptIds.length) return new Set();
  const rows = await eco(db)
    .selectFrom('prompt_likes')
    .select('prompt_id')
    .where('account_id', '=', accountId)
    .where('prompt_id', 'in', promptIds)
    .execute();
  return new Set(rows.map((r) => r.prompt_id));
}

/** Ids of every prompt the account likes (for the `liked` list filter). */
export async function likedPromptIds(db: Db, accountId: number): Promise<number[]> {
  const rows = await eco(db)
    .selectFrom('prompt_likes')
    .select('prompt_id')
    .where('account_id', '=', accountId)
    .execute();
  return rows.map((r) => r.prompt_id);
}
