// `atelier keys create|list|revoke` and the first-start key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keysCommand } from '../../../src/cli/keys.ts';
import { loadConfig } from '../../../src/config.ts';
import { ensureFirstKey } from '../../../src/domain/keys.ts';
import { findActiveKey, hashApiKey } from '../../../src/store/accounts.ts';
import { openSqlite } from '../../../src/store/db.ts';

test('create prints an sd_ key once; it is stored hashed; list shows prefixes; revoke disables it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-cli-'));
  try {
    const config = loadConfig({ dataDir: dir }, {});
    const out: string[] = [];
    assert.equal(await keysCommand(config, ['create', '--compat', 'astria'], (s) => out.push(s)), 0);
    const key = out[0];
    assert.match(key, /^sd_[A-Za-z0-9_-]{43}$/);
    assert.match(out[1], /mode astria/);

    const db = await openSqlite(config.databaseFile);
    const rows = await db.selectFrom('api_keys').selectAll().execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].key_hash, hashApiKey(key));
    assert.ok(!JSON.stringify(rows).includes(key), 'the secret is not stored');
    assert.equal(rows[0].presentation, 'astria');
    await db.destroy();

    out.length = 0;
    assert.equal(
      await keysCommand(config, ['create', '--account', String(rows[0].account_id)], (s) => out.push(s)),
      0,
    );
    out.length = 0;
    await keysCommand(config, ['list'], (s) => out.push(s));
    assert.equal(out.length, 3);
    assert.ok(!out.join('\n').includes(key));
    assert.ok(out[1].includes(key.slice(0, 10)));

    assert.equal(await keysCommand(config, ['revoke', key.slice(0, 10)], () => {}), 0);
    const db2 = await openSqlite(config.databaseFile);
    assert.equal(await findActiveKey(db2, key), undefined);
    await db2.destroy();
    assert.equal(await keysCommand(config, ['create', '--compat', 'nope'], () => {}), 1);
    assert.equal(await keysCommand(config, ['frobnicate'], () => {}), 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the first start creates one key only when none exists', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-first-'));
  try {
    const db = await openSqlite(join(dir, 'a.db'));
    const first = await ensureFirstKey(db);
    assert.ok(first?.key.startsWith('sd_'));
    assert.equal(await ensureFirstKey(db), null);
    await db.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
