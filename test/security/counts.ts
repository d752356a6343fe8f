// Row counts of the tables a create touches, so a refused request can be shown to have written nothing.
import type { Harness } from '../api/helpers.ts';

const TABLES = ['tunes', 'tune_images', 'prompts', 'images', 'jobs', 'webhook_deliveries'] as const;

export async function rowCounts(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) {
    const r = await h.rt.svc.db
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[t] = Number(r.n);
  }
  return out;
}
