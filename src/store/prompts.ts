// Prompts and their generated images, always scoped by account.
import { sql } from 'kysely';
import { param, runCached } from './compiled-queries.ts';
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

export interface PromptWithImages {
  prompt: Prompt;
  /** by position */
  images: Image[];
}

/** The image columns of a prompt ⟕ images row, prefixed so they do not collide with the prompt's. */
const IMAGE_COLUMNS = [
  'i.id as image_id',
  'i.prompt_id as image_prompt_id',
  'i.account_id as image_account_id',
  'i.position as image_position',
  'i.blob_key as image_blob_key',
  'i.content_type as image_content_type',
  'i.width as image_width',
  'i.height as image_height',
  'i.created_at as image_created_at',
] as const;

type JoinedRow = Prompt & {
  image_id: number | null;
  image_prompt_id: number | null;
  image_account_id: number | null;
  image_position: number | null;
  image_blob_key: string | null;
  image_content_type: string | null;
  image_width: number | null;
  image_height: number | null;
  image_created_at: string | null;
};

/** Rows of prompts left-joined with their images (ordered by prompt, then position) → one entry per prompt. */
function groupJoined(rows: JoinedRow[]): PromptWithImages[] {
  const out: PromptWithImages[] = [];
  for (const row of rows) {
    const {
      image_id,
      image_prompt_id,
      image_account_id,
      image_position,
      image_blob_key,
      image_content_type,
      image_width,
      image_height,
      image_created_at,
      ...prompt
    } = row;
    let last = out[out.length - 1];
    if (last?.prompt.id !== prompt.id) out.push((last = { prompt, images: [] }));
    if (image_id !== null)
      last.images.push({
        id: image_id,
        prompt_id: image_prompt_id as number,
        account_id: image_account_id as number,
        position: image_position as number,
        blob_key: image_blob_key as string,
        content_type: image_content_type as string,
        width: image_width as number,
        height: image_height as number,
        created_at: image_created_at as string,
      });
  }
  return out;
}

/** One of the account's prompts with its images, in one query (the prompt GET clients poll). */
export async function findOwnPromptWithImages(
  db: Db,
  accountId: number,
  id: number,
): Promise<PromptWithImages | undefined> {
  const rows = await runCached(
    db,
    'own-prompt-with-images',
    (d) =>
      d
        .selectFrom('prompts as p')
        .leftJoin('images as i', 'i.prompt_id', 'p.id')
        .selectAll('p')
        .select(IMAGE_COLUMNS)
        .where('p.id', '=', param<number>(0))
        .where('p.account_id', '=', param<number>(1))
        .orderBy('i.position'),
    [id, accountId],
  );
  return groupJoined(rows as JoinedRow[])[0];
}

export async function getPrompt(db: Db, id: number): Promise<Prompt | undefined> {
  return db.selectFrom('prompts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A LIKE pattern for a case-insensitive substring match, wildcards escaped; the same in SQLite and PostgreSQL. */
function likePattern(needle: string): string {
  return `%${needle.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
}

function matchesLike(column: 'text', pattern: string) {
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

export interface PromptFilters {
  tuneId?: number;
  text?: string;
  /** only prompts this account likes (true) or does not (false); likes live in prompt_likes (store/likes.ts) */
  liked?: boolean;
}

/**
 * The page query's values as placeholders (`param`), in a fixed order, and its shape: the filters present. One
 * compiled query per shape (src/store/compiled-queries.ts), run with `values`.
 */
function pageQuery(accountId: number, page: Page, f: PromptFilters) {
  const values: unknown[] = [];
  const slot = <T>(v: T) => param<T>(values.push(v) - 1);
  const s = {
    accountId: slot(accountId),
    tuneId: f.tuneId === undefined ? undefined : slot(f.tuneId),
    pattern: f.text ? slot(likePattern(f.text)) : undefined,
    liked: f.liked,
    page: {
      ...(page.beforeId !== undefined && { beforeId: slot(page.beforeId) }),
      limit: slot(page.limit),
      offset: slot(page.offset),
    },
  };
  const key = `prompts-page:${s.tuneId !== undefined}:${s.pattern !== undefined}:${s.liked ?? ''}:${s.page.beforeId !== undefined}`;
  const build = (db: Db) => {
    let q = db.selectFrom('prompts').selectAll().where('account_id', '=', s.accountId);
    if (s.tuneId !== undefined) q = q.where('tune_id', '=', s.tuneId);
    if (s.pattern !== undefined) q = q.where(matchesLike('text', s.pattern));
    if (s.liked !== undefined) {
      const likedIds = sql`(select prompt_id from prompt_likes where account_id = ${s.accountId})`;
      q = q.where(s.liked ? sql<boolean>`id in ${likedIds}` : sql<boolean>`id not in ${likedIds}`);
    }
    return paginate(q, 'id', s.page);
  };
  return { key, build, values };
}

/**
 * A page of the account's prompts (newest first) with their images: two queries (the page, then the images of its
 * prompts). One joined query measured slower here: it repeats every prompt's columns once per image.
 */
export async function listPromptsWithImages(
  db: Db,
  accountId: number,
  page: Page,
  f: PromptFilters = {},
): Promise<PromptWithImages[]> {
  const q = pageQuery(accountId, page, f);
  const prompts = await runCached(db, q.key, q.build, q.values);
  const byPrompt = new Map<number, Image[]>(prompts.map((p) => [p.id, []]));
  for (const image of await listImagesFor(db, [...byPrompt.keys()]))
    byPrompt.get(image.prompt_id)?.push(image);
  return prompts.map((prompt) => ({ prompt, images: byPrompt.get(prompt.id) ?? [] }));
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

/** Longest IN list whose query is compiled once and kept: the largest list page (api/list-query.ts MAX_LIMIT). */
const MAX_CACHED_IN_LIST = 120;

const imagesOf = (db: Db, promptIds: number[]) =>
  db.selectFrom('images').selectAll().where('prompt_id', 'in', promptIds).orderBy('position');

export async function listImagesFor(db: Db, promptIds: number[]): Promise<Image[]> {
  if (!promptIds.length) return [];
  if (promptIds.length > MAX_CACHED_IN_LIST) return imagesOf(db, promptIds).execute();
  // one compiled query per list length up to a page's (the IN list's placeholders vary with it)
  return runCached(
    db,
    `images-of-${promptIds.length}`,
    (d) =>
      imagesOf(
        d,
        promptIds.map((_, i) => param<number>(i)),
      ),
    promptIds,
  );
}

export async function getImage(db: Db, id: number): Promise<Image | undefined> {
  return db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
}
