// Packs (prompt templates per subject class), their prompts and pack runs. The tables come from
// migrations-ecosystem.ts; their row types live here, beside the only queries that use them.
import type { Generated, Kysely, Selectable } from 'kysely';
import { type Db, nowIso } from './db.ts';
import type { Database } from './schema.ts';

export interface PacksTable {
  id: Generated<number>;
  /** null: a gallery pack loaded by the operator, visible to every account. */
  account_id: number | null;
  slug: string;
  title: string;
  subtitle: string | null;
  description: string | null;
  cover_url: string | null;
  base_tune_id: number | null;
  model_type: string | null;
  token: string;
  main_class_name: string | null;
  public_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface PackPromptsTable {
  id: Generated<number>;
  pack_id: number;
  class_name: string;
  position: number;
  text: string;
  attributes: string; // JSON object of prompt fields other than text
}

export interface PackRunsTable {
  id: Generated<number>;
  account_id: number;
  pack_id: number;
  tune_id: number;
  prompt_ids: string; // JSON array
  prompts_callback: string | null;
  callback_sent_at: string | null;
  created_at: string;
}

export interface PromptLikesTable {
  account_id: number;
  prompt_id: number;
  created_at: string;
}

export interface EcosystemDatabase extends Database {
  packs: PacksTable;
  pack_prompts: PackPromptsTable;
  pack_runs: PackRunsTable;
  prompt_likes: PromptLikesTable;
}

export type Pack = Selectable<PacksTable>;
export type PackPrompt = Selectable<PackPromptsTable>;
export type PackRun = Selectable<PackRunsTable>;

/** The same connection, typed with the ecosystem tables too. */
export const eco = (db: Db) => db as unknown as Kysely<EcosystemDatabase>;

export interface PackFields {
  slug: string;
  title: string;
  subtitle: string | null;
  description: string | null;
  cover_url: string | null;
  base_tune_id: number | null;
  model_type: string | null;
  token: string;
  main_class_name: string | null;
}

export interface PackPromptFields {
  class_name: string;
  text: string;
  attributes: Record<string, unknown>;
}

export async function insertPack(
  db: Db,
  accountId: number | null,
  fields: PackFields,
  prompts: PackPromptFields[],
): Promise<Pack> {
  const now = nowIso();
  return eco(db)
    .transaction()
    .execute(async (tx) => {
      const pack = await tx
        .insertInto('packs')
        .values({
          ...fields,
          account_id: accountId,
          public_at: accountId === null ? now : null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await insertPromptRows(tx, pack.id, prompts);
      return pack;
    });
}

async function insertPromptRows(tx: Kysely<EcosystemDatabase>, packId: number, prompts: PackPromptFields[]) {
  if (!prompts.length) return;
  await tx
    .insertInto('pack_prompts')
    .values(
      prompts.map((p, position) => ({
        pack_id: packId,
        class_name: p.class_name,
        position,
        text: p.text,
        attributes: JSON.stringify(p.attributes),
      })),
    )
    .execute();
}

/** Gallery packs are keyed by slug: loading a file again replaces each pack's fields and prompts in place. */
export async function upsertGalleryPack(
  db: Db,
  fields: PackFields,
  prompts: PackPromptFields[],
): Promise<Pack> {
  const existing = await eco(db)
    .selectFrom('packs')
    .selectAll()
    .where('slug', '=', fields.slug)
    .executeTakeFirst();
  if (!existing) return insertPack(db, null, fields, prompts);
  if (existing.account_id !== null)
    throw new Error(`slug "${fields.slug}" already belongs to an account's pack; choose another slug`);
  return eco(db)
    .transaction()
    .execute(async (tx) => {
      const pack = await tx
        .updateTable('packs')
        .set({ ...fields, updated_at: nowIso() })
        .where('id', '=', existing.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await tx.deleteFrom('pack_prompts').where('pack_id', '=', pack.id).execute();
      await insertPromptRows(tx, pack.id, prompts);
      return pack;
    });
}

export async function listOwnPacks(db: Db, accountId: number): Promise<Pack[]> {
  return eco(db)
    .selectFrom('packs')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('id', 'desc')
    .execute();
}

export async function listGalleryPacks(db: Db): Promise<Pack[]> {
  return eco(db).selectFrom('packs').selectAll().where('account_id', 'is', null).orderBy('id').execute();
}

/** A pack the account may use (its own or a gallery pack), by numeric id or by slug. */
export async function findVisiblePack(
  db: Db,
  accountId: number,
  slugOrId: string,
): Promise<Pack | undefined> {
  let q = eco(db)
    .selectFrom('packs')
    .selectAll()
    .where((eb) => eb.or([eb('account_id', '=', accountId), eb('account_id', 'is', null)]));
  q = /^\d{1,15}$/.test(slugOrId) ? q.where('id', '=', Number(slugOrId)) : q.where('slug', '=', slugOrId);
  return q.executeTakeFirst();
}

export async function slugTaken(db: Db, slug: string): Promise<boolean> {
  return Boolean(await eco(db).selectFrom('packs').select('id').where('slug', '=', slug).executeTakeFirst());
}

export async function listPackPrompts(db: Db, packIds: number[]): Promise<PackPrompt[]> {
  if (!packIds.length) return [];
  return eco(db)
    .selectFrom('pack_prompts')
    .selectAll()
    .where('pack_id', 'in', packIds)
    .orderBy('pack_id')
    .orderBy('position')
    .execute();
}

export async function insertPackRun(
  db: Db,
  run: Pick<PackRun, 'account_id' | 'pack_id' | 'tune_id' | 'prompt_ids' | 'prompts_callback'>,
): Promise<PackRun> {
  return eco(db)
    .insertInto('pack_runs')
    .values({ ...run, created_at: nowIso() })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The account's runs whose prompts_callback has not been sent yet. */
export async function listOpenRunsOfAccount(db: Db, accountId: number): Promise<PackRun[]> {
  return eco(db)
    .selectFrom('pack_runs')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('callback_sent_at', 'is', null)
    .where('prompts_callback', 'is not', null)
    .execute();
}

/** Claim the run's callback: true for exactly one caller, however many prompts finish at once. */
export async function claimRunCallback(db: Db, runId: number): Promise<boolean> {
  const r = await eco(db)
    .updateTable('pack_runs')
    .set({ callback_sent_at: nowIso() })
    .where('id', '=', runId)
    .where('callback_sent_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
