// Prompts and their generated images, always scoped by account.
import { sql } from 'kysely';
import { type Db, nowIso } from './db.ts';
import { type Page, paginate } from './pagination.ts';
import type { Image, NewPrompt, Prompt, PromptPatch } from './schema.ts';

export async function insertPrompt(db: Db, row: NewPrompt): Promise<Prompt> {
  return db.insertInto('prompts').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findOwnPrompt(db: Db, accountId: number, id: number): Promise<Prompt | undefined> {
  return db
    .selectFrom('prompts')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

export async function getPrompt(db: Db, id: number): Promise<Prompt | undefined> {
  return db.selectFrom('prompts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Case-insensitive substring match with LIKE wildcards escaped; the same result in SQLite and PostgreSQL. */
export function containsText(column: 'text', needle: string) {
  const pattern = `%${needle.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

export interface PromptFilters {
  tuneId?: number;
  text?: string;
  /** only prompts this account likes (true) or does not (false); likes live in prompt_likes (store/likes.ts) */
  liked?: boolean;
}

export async function listPrompts(
  db: Db,
  accountId: number,
  page: Page,
  f: PromptFilters = {},
): Promise<Prompt[]> {
  let q = db.selectFrom('prompts').selectAll().where('account_id', '=', accountId);
  if (f.tuneId !== undefined) q = q.where('tune_id', '=', f.tuneId);
  if (f.text) q = q.where(containsText('text', f.text));
  if (f.liked !== undefined) {
    const likedIds = sql`(select prompt_id from prompt_likes where account_id = ${accountId})`;
    q = q.where(f.liked ? sql<boolean>`id in ${likedIds}` : sql<boolean>`id not in ${likedIds}`);
  }
  return paginate(q, 'id', page).execute();
}

export async function listPromptIdsOfTune(db: Db, tuneId: number): Promise<number[]> {
  const rows = await db.selectFrom('prompts').select('id').where('tune_id', '=', tuneId).execute();
  return rows.map((r) => r.id);
}

/** Prompts waiting for their tune to finish training. */
export async function listWaitingPrompts(db: Db, tuneId: number): Promise<Prompt[]> {
  return db
    .selectFrom('prompts')
    .selectAll()
    .where('tune_id', '=', tuneId)
    .where('status', '=', 'queued')
    .orderBy('id')
    .execute();
}

export async function updatePrompt(db: Db, id: number, patch: PromptPatch): Promise<Prompt | undefined> {
  return db
    .updateTable('prompts')
    .set({ ...patch, updated_at: nowIso() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Update only while the prompt is in one of `from` (so a cancelled prompt is never revived). */
export async function transitionPrompt(
  db: Db,
  id: number,
  from: Prompt['status'][],
  patch: PromptPatch,
): Promise<Prompt | undefined> {
  return db
    .updateTable('prompts')
    .set({ ...patch, updated_at: nowIso() })
    .where('id', '=', id)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
}

export async function deletePromptRow(db: Db, id: number): Promise<void> {
  await db.deleteFrom('images').where('prompt_id', '=', id).execute();
  await db.deleteFrom('prompts').where('id', '=', id).execute();
}

export async function deleteImagesOfPrompt(db: Db, promptId: number): Promise<void> {
  await db.deleteFrom('images').where('prompt_id', '=', promptId).execute();
}

export async function insertImages(db: Db, rows: Omit<Image, 'id' | 'created_at'>[]): Promise<Image[]> {
  if (!rows.length) return [];
  const created_at = nowIso();
  return db
    .insertInto('images')
    .values(rows.map((r) => ({ ...r, created_at })))
    .returningAll()
    .execute();
}

export async function listImagesFor(db: Db, promptIds: number[]): Promise<Image[]> {
  if (!promptIds.length) return [];
  return db
    .selectFrom('images')
    .selectAll()
    .where('prompt_id', 'in', promptIds)
    .orderBy('position')
    .execute();
}

export async function getImage(db: Db, id: number): Promise<Image | undefined> {
  return db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
}
