// Base models (API.md §2): operator-owned tunes (no account) visible to every account, so prompts posted to the ids
// that clients hard-code (CLIENTS.md item 21: 690204, 1504944, …) work unchanged. They are ready at creation.
import { insertBaseModelTune } from '../store/base-models.ts';
import type { Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import type { Services } from './context.ts';
import { installedBranches } from './ports.ts';

export interface BaseTuneInput {
  id?: number;
  title: string;
  name?: string;
  branch: string;
}

export async function addBaseTune(svc: Pick<Services, 'db' | 'engines'>, b: BaseTuneInput): Promise<Tune> {
  if (!installedBranches(svc.engines).includes(b.branch))
    throw new Error(
      `branch "${b.branch}" is not installed (installed: ${installedBranches(svc.engines).join(', ')})`,
    );
  if (b.id !== undefined && (await tunesSql.getTune(svc.db, b.id)))
    throw new Error(`tune ${b.id} already exists`);
  return insertBaseModelTune(svc.db, b);
}
