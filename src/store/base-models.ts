// Operator-owned base-model tunes (account_id null, visible to every account, API.md §2): created by
// `atelier models pull|add`. The model folder is named in the tune's `args` JSON as {"base_model": "<name>"};
// no schema change is needed.
import { type Db, nowIso } from './db.ts';
import type { Tune } from './schema.ts';

export interface NewBaseModelTune {
  /** an id clients already hard-code (e.g. 690204); omitted = next free id */
  id?: number;
  title: string;
  branch: string;
  modelName: string;
}

export async function insertBaseModelTune(db: Db, t: NewBaseModelTune): Promise<Tune> {
  const now = nowIso();
  return db
    .insertInto('tunes')
    .values({
      ...(t.id !== undefined && { id: t.id }),
      account_id: null,
      presentation: 'native',
      title: t.title,
      name: 'base model',
      token: '',
      branch: t.branch,
      model_type: null,
      base_tune_id: null,
      steps: null,
      face_crop: null,
      training_face_correct: null,
      callback: null,
      characteristics: '{}',
      args: JSON.stringify({ base_model: t.modelName }),
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
