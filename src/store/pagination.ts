// Keyset + offset pagination shared by the list queries (newest first = highest id first).
import type { SelectQueryBuilder } from 'kysely';

export interface Page {
  limit: number;
  offset: number;
  beforeId?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: generic over any table that has an integer `id`
export function paginate<QB extends SelectQueryBuilder<any, any, any>>(
  qb: QB,
  idColumn: string,
  page: Page,
): QB {
  let q = qb;
  if (page.beforeId !== undefined) q = q.where(idColumn, '<', page.beforeId) as QB;
  return q.orderBy(idColumn, 'desc').limit(page.limit).offset(page.offset) as QB;
}
