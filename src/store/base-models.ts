// Operator-owned base-model tunes (account_id null, visible to every account, API.md §2): created by
// `atelier models pull|add` (with a model folder, named in the tune's `args` JSON as {"base_model": "<name>"}) and
// by `atelier base-tunes add` (an id for a branch that needs no model folder, e.g. a `fast` mock base).
import { PostgresAdapter, sql } from 'kysely';
import { type Db, nowIso } from './db.ts';
import type { Tune } from './schema.ts';

export interface NewBaseModelTune {
  /** an id clients already hard-code (e.g. 690204); omitted = next free id */
  id?: number;
  title: string;
  branch: string;
  /** the class noun shown on the tune (default "base model") */
  name?: string;
  /** the installed model folder serving it; omitted for branches that need none */
  modelName?: string;
}

export async function insertBaseModelTune(db: Db, t: NewBaseModelTune): Promise<Tune> {
  const now = nowIso();
  const tune = await db
    .insertInto('tunes')
    .values({
      ...(t.id !== undefined && { id: t.id }),
      account_id: null,
      presentation: 'native',
      title: t.title,
      name: t.name ?? 'base model',
      token: '',
      branch: t.branch,
      model_type: null,
      base_tune_id: null,
      steps: null,
      face_crop: null,
      training_face_correct: null,
      callback: null,
      characteristics: '{}',
      args: t.modelName === undefined ? '{}' : JSON.stringify({ base_model: t.modelName }),
      pending_image_urls: '[]',
      status: 'trained',
      progress: 1,
      phase: null,
      user_error: null,
      eta: null,
      started_training_at: now,
      trained_at: now,
      failed_at: null,
      expires_at: null,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (t.id !== undefined) await advanceTuneIdSequence(db);
  return tune;
}

/**
 * PostgreSQL's serial sequence does not move when a row is inserted with an explicit id (a hard-coded base-model
 * id such as 690204), so the next ordinary insert could collide with it. Move the sequence past the largest id.
 * SQLite's AUTOINCREMENT already continues after the largest id.
 */
async function advanceTuneIdSequence(db: Db): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`select setval(pg_get_serial_sequence('tunes', 'id'), (select max(id) from tunes))`.execute(db);
}

/** The model folder name of a base-model tune, or null when the tune is not one. */
export function baseModelNameOf(tune: Pick<Tune, 'account_id' | 'args'>): string | null {
  if (tune.account_id !== null) return null;
  try {
    const args = JSON.parse(tune.args) as { base_model?: unknown };
    return typeof args.base_model === 'string' ? args.base_model : null;
  } catch {
    return null;
  }
}

export async function findBaseModelTune(db: Db, modelName: string): Promise<Tune | undefined> {
  const rows = await db.selectFrom('tunes').selectAll().where('account_id', 'is', null).execute();
  return rows.find((r) => baseModelNameOf(r) === modelName);
}
