// Opens the database: SQLite through better-sqlite3 (the embedded default) or PostgreSQL through `pg` (scale-out).
// The repositories only speak Kysely with portable SQL, so both run the same code and the same migrations.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

export async function openSqlite(file: string): Promise<Db> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const database = new SQLite(file);
  // WAL lets `atelier worker` processes read while `serve` writes; busy_timeout makes writers wait, not fail.
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  // In WAL mode NORMAL still never corrupts the database; it only may lose the last commits on power loss
  // (not on a process crash), and saves an fsync per write.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

/**
 * Kysely's SQLite driver prepares every query anew; preparing was ~10 % of a GET's CPU under load (bench/http-load).
 * Reuse prepared statements by SQL text, least recently used dropped past `max` (IN-lists make the text vary).
 * Safe: Kysely runs one query at a time per connection, and SQLite re-prepares a statement after a schema change.
 */
function withStatementCache(database: SQLite.Database, max = 500) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SQLite.Statement {
      let stmt = cache.get(sql);
      if (stmt) cache.delete(sql);
      else {
        stmt = database.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, stmt); // re-inserted: most recently used last
      return stmt;
    },
  };
}

export async function openPostgres(url: string): Promise<Db> {
  // int8 (count(*), bigint columns) as JS numbers: every such value here (ids, counts, seeds < 2^32) is safe.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 10 }) }),
  });
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

/** `postgres://…` → PostgreSQL, anything else is a SQLite file path. */
export function openDatabase(target: string): Promise<Db> {
  return /^postgres(ql)?:\/\//i.test(target) ? openPostgres(target) : openSqlite(target);
}

export function nowIso(ms: number = Date.now()): string {
  return new Date(ms).toISOString();
}
