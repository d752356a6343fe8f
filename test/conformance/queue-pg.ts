// A fresh PostgreSQL database per conformance subject, so runs (and parallel test files) never share rows.
// Skips with a clear reason when the server is unreachable (ATELIER_TEST_PG_URL, default 127.0.0.1:5432).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.ATELIER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function pgUnavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return `PostgreSQL not reachable at ${PG_ADMIN_URL}: ${(e as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
}

async function admin(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

/** Create an empty database; returns its URL and a drop function. */
export async function scratchDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await admin(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}
