// Tunes and their training images. Reads are scoped: an account sees its own tunes plus operator base models.
import { type Db, nowIso } from './db.ts';
import { type Page, paginate } from './pagination.ts';
import type { NewTune, Tune, TuneImage, TunePatch } from './schema.ts';

export async function insertTune(db: Db, row: NewTune): Promise<Tune> {
  return db.insertInto('tunes').values(row).returningAll().executeTakeFirstOrThrow();
}

/** A tune the account may use: its own, or a base model (account_id null). */
export async function findVisibleTune(db: Db, accountId: number, id: number): Promise<Tune | undefined> {
  return db
    .selectFrom('tunes')
    .selectAll()
    .where('id', '=', id)
    .where((eb) => eb.or([eb('account_id', '=', accountId), eb('account_id', 'is', null)]))
    .executeTakeFirst();
}

export async function findOwnTune(db: Db, accountId: number, id: number): Promise<Tune | undefined> {
  return db
    .selectFrom('tunes')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

export async function findTuneByTitle(db: Db, accountId: number, title: string): Promise<Tune | undefined> {
  return db
    .selectFrom('tunes')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('title', '=', title)
    .orderBy('id')
    .executeTakeFirst();
}

export async function getTune(db: Db, id: number): Promise<Tune | undefined> {
  return db.selectFrom('tunes').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface TuneFilters {
  title?: string;
  branch?: string;
  modelType?: string;
  /** class names (`name[]`): any of them */
  names?: string[];
}

export async function listTunes(db: Db, accountId: number, page: Page, f: TuneFilters = {}): Promise<Tune[]> {
  let q = db.selectFrom('tunes').selectAll().where('account_id', '=', accountId);
  if (f.title) q = q.where('title', '=', f.title);
  if (f.branch) q = q.where('branch', '=', f.branch);
  if (f.modelType) q = q.where('model_type', '=', f.modelType);
  if (f.names?.length) q = q.where('name', 'in', f.names);
  return paginate(q, 'id', page).execute();
}

export async function updateTune(db: Db, id: number, patch: TunePatch): Promise<Tune | undefined> {
  return db
    .updateTable('tunes')
    .set({ ...patch, updated_at: nowIso() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteTuneRow(db: Db, id: number): Promise<void> {
  await db.deleteFrom('tune_images').where('tune_id', '=', id).execute();
  await db.deleteFrom('tunes').where('id', '=', id).execute();
}

export async function insertTuneImages(
  db: Db,
  rows: Omit<TuneImage, 'id' | 'created_at'>[],
): Promise<TuneImage[]> {
  if (!rows.length) return [];
  const created_at = nowIso();
  return db
    .insertInto('tune_images')
    .values(rows.map((r) => ({ ...r, created_at })))
    .returningAll()
    .execute();
}

export async function listTuneImages(db: Db, tuneId: number): Promise<TuneImage[]> {
  return db.selectFrom('tune_images').selectAll().where('tune_id', '=', tuneId).orderBy('position').execute();
}

export async function listTuneImagesFor(db: Db, tuneIds: number[]): Promise<TuneImage[]> {
  if (!tuneIds.length) return [];
  return db
    .selectFrom('tune_images')
    .selectAll()
    .where('tune_id', 'in', tuneIds)
    .orderBy('position')
    .execute();
}

export async function listTuneImageById(db: Db, id: number): Promise<TuneImage | undefined> {
  return db.selectFrom('tune_images').selectAll().where('id', '=', id).executeTakeFirst();
}
