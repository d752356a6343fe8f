// The databases a store/queue test runs against: a temp SQLite file always, and a throwaway PostgreSQL database
// when one is reachable (ATELIER_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres). Each open()
// gives an empty database; reopen() opens the same one again (a "restart").
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { type Db, openDatabase } from '../../../src/store/db.ts';

export interface Opened {
  db: Db;
  reopen(): Promise<Db>;
  cleanup(): Promise<void>;
}

export interface Target {
  name: string;
  /** a reason to skip, when the database is not available */
  skip?: string;
  open(): Promise<Opened>;
}

const ADMIN_URL = process.env.ATELIER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function pgReachable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL not reachable at ${ADMIN_URL}: ${(e as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
}

const sqlite: Target = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'atelier-store-'));
    const file = join(dir, 'a.db');
    const dbs: Db[] = [await openDatabase(file)];
    return {
      db: dbs[0],
      async reopen() {
        dbs.push(await openDatabase(file));
        return dbs.at(-1)!;
      },
      async cleanup() {
        for (const d of dbs) await d.destroy().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** One throwaway database per test process; each open() empties its tables (much faster than a new database). */
let shared: { url: string; name: string } | undefined;
async function sharedDatabase(): Promise<string> {
  if (!shared) {
    const name = `atelier_t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    shared = { url: url.toString(), name };
    process.once('beforeExit', () => void dropDatabase(name));
  }
  return shared.url;
}

async function dropDatabase(name: string) {
  const a = new pg.Client({ connectionString: ADMIN_URL });
  await a.connect();
  await a.query(`drop database if exists ${name} with (force)`);
  await a.end();
}

function postgres(skip: string | undefined): Target {
  return {
    name: 'postgres',
    skip,
    async open() {
      const url = await sharedDatabase();
      const dbs: Db[] = [await openDatabase(url)];
      const { rows } = await dbs[0].executeQuery<{ t: string }>(
        sql<{
          t: string;
        }>`select tablename as t from pg_tables where schemaname = 'public' and tablename not like 'kysely_%'`.compile(
          dbs[0],
        ),
      );
      if (rows.length)
        await sql.raw(`truncate ${rows.map((r) => `"${r.t}"`).join(', ')} restart identity`).execute(dbs[0]);
      return {
        db: dbs[0],
        async reopen() {
          dbs.push(await openDatabase(url));
          return dbs.at(-1)!;
        },
        async cleanup() {
          for (const d of dbs) await d.destroy().catch(() => {});
        },
      };
    },
  };
}

export async function storeTargets(): Promise<Target[]> {
  return [sqlite, postgres(await pgReachable())];
}
