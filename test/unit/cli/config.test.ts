import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError, describeDatabase, ENV_VARS, loadConfig } from '../../../src/config.ts';

test('defaults, env vars, overrides, and a clear error for a bad value', () => {
  const d = loadConfig({}, {});
  assert.equal(d.port, 3000);
  assert.equal(d.publicBaseUrl, 'http://127.0.0.1:3000');
  assert.ok(d.databaseFile.endsWith('data/atelier.db'));
  const e = loadConfig(
    {},
    { ATELIER_PORT: '8080', ATELIER_OUTBOUND_ALLOW_PRIVATE: 'true', ATELIER_PUBLIC_BASE_URL: 'https://a.b/' },
  );
  assert.equal(e.port, 8080);
  assert.equal(e.outboundAllowPrivate, true);
  assert.equal(e.publicBaseUrl, 'https://a.b');
  assert.equal(loadConfig({ port: 1 }, { ATELIER_PORT: '8080' }).port, 1);
  assert.throws(
    () => loadConfig({}, { ATELIER_PORT: 'eighty' }),
    (err: Error) => err instanceof ConfigError && /ATELIER_PORT/.test(err.message),
  );
});

test('every variable is documented in docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const name of Object.values(ENV_VARS)) assert.ok(doc.includes(`\`${name}\``), name);
});

test('log lines name the database actually used, without its password', () => {
  assert.match(describeDatabase(loadConfig({}, {})), /^SQLite .*atelier\.db$/);
  const pg = describeDatabase(
    loadConfig({}, { ATELIER_DATABASE_URL: 'postgres://atelier:s3cret@db.internal:5432/atelier' }),
  );
  assert.equal(pg, 'PostgreSQL postgres://atelier:***@db.internal:5432/atelier');
});
