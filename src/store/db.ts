// Opens the database. The embedded default is SQLite through better-sqlite3; a PostgreSQL dialect can be added
// here (Kysely's PostgresDialect over `pg`) without touching the repositories, which only speak Kysely.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

export async function openSqlite(file: string): Promise<Db> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const database = new SQLite(file);
  // WAL lets `atelier worker` processes read while `serve` writes; busy_timeout makes writers wait, not fail.
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

export function nowIso(ms: number = Date.now()): string {
  return new Date(ms).toISOString();
}
