// Hot-path queries built and compiled once per database, then re-run with new parameter values. Building a Kysely
// query and compiling it to SQL cost about as much as SQLite answering a primary-key lookup (measured for
// bench/http-load: ~45 of ~115 µs per lookup), on every request. The query is built with placeholder values
// (`param(i)`), compiled for this database's dialect, and each run substitutes the caller's values by position.
// Together with the prepared-statement cache in db.ts, a cached query goes straight to its prepared statement.
import type { Compilable, CompiledQuery } from 'kysely';
import type { Db } from './db.ts';

class Param {
  constructor(readonly index: number) {}
}

/** Placeholder for the i-th run-time value (typed as the value it stands for). */
export function param<T>(index: number): T {
  return new Param(index) as unknown as T;
}

type Build<R> = (db: Db) => Compilable<R>;

const compiled = new WeakMap<Db, Map<string, CompiledQuery>>();

function compileOnce<R>(db: Db, key: string, build: Build<R>, arity: number): CompiledQuery<R> {
  let byKey = compiled.get(db);
  if (!byKey) compiled.set(db, (byKey = new Map()));
  let q = byKey.get(key);
  if (!q) {
    q = build(db).compile();
    const used = new Set(q.parameters.filter((p) => p instanceof Param).map((p) => (p as Param).index));
    if (used.size !== arity || [...used].some((i) => i >= arity))
      throw new Error(`cached query ${key}: ${arity} values given, ${used.size} placeholders compiled`);
    byKey.set(key, q);
  }
  return q as CompiledQuery<R>;
}

/**
 * Runs the query `build` makes, compiled once per database under `key` (one key per query shape: the SQL text must
 * not depend on the values), with `values[i]` in place of `param(i)`.
 */
export async function runCached<R>(db: Db, key: string, build: Build<R>, values: unknown[]): Promise<R[]> {
  const q = compileOnce(db, key, build, values.length);
  const parameters = q.parameters.map((p) => (p instanceof Param ? values[p.index] : p));
  const result = await db.executeQuery<R>({ ...q, parameters });
  return result.rows;
}
