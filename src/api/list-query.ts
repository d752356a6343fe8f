// List query parameters (API.md §5): limit (default 20, max 120), before_id keyset cursor, offset with a cap.
import { AppError } from '../domain/errors.ts';
import type { Page } from '../store/pagination.ts';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 120;

function int(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parsePage(query: unknown, maxOffset: number): Page {
  const q = (query ?? {}) as Record<string, unknown>;
  const limit = Math.min(MAX_LIMIT, Math.max(1, int(q.limit) ?? int(q.per_page) ?? DEFAULT_LIMIT));
  const offset = int(q.offset) ?? 0;
  if (offset > maxOffset)
    throw new AppError(
      'offset_too_large',
      `offset may be at most ${maxOffset}: use before_id=<last id seen> to page further`,
    );
  const beforeId = int(q.before_id);
  return { limit, offset, ...(beforeId !== undefined && { beforeId }) };
}

export function queryString(query: unknown, name: string): string | undefined {
  const v = (query as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function queryInt(query: unknown, name: string): number | undefined {
  return int((query as Record<string, unknown> | undefined)?.[name]);
}

/** Route ids: digits only; anything else is simply not found. */
export function idParam(params: unknown, name = 'id'): number {
  const v = (params as Record<string, string>)[name];
  const n = /^\d{1,15}$/.test(v ?? '') ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new AppError('not_found');
  return n;
}
