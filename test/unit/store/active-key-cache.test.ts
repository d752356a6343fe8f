// The auth hook's key cache (src/store/accounts.ts ActiveKeyCache): hits skip the database, revocation through the
// same Db is seen at once, revocation by another process (another Db on the same file) within the TTL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createApiKey } from '../../../src/domain/keys.ts';
import { ActiveKeyCache, revokeApiKey } from '../../../src/store/accounts.ts';
import { openSqlite } from '../../../src/store/db.ts';

async function twoHandles() {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-keycache-'));
  const file = join(dir, 'a.db');
  const db = await openSqlite(file);
  const other = await openSqlite(file); // stands for another process (`atelier keys revoke`)
  return {
    db,
    other,
    close: async () => {
      await db.destroy();
      await other.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a revocation through the same Db is seen on the next lookup, even inside the TTL', async () => {
  const h = await twoHandles();
  try {
    const created = await createApiKey(h.db, { account: 'a' });
    const cache = new ActiveKeyCache(h.db, 60_000);
    assert.equal((await cache.find(created.key))?.id, created.row.id);
    assert.equal(await revokeApiKey(h.db, String(created.row.id)), 1);
    assert.equal(await cache.find(created.key), undefined);
  } finally {
    await h.close();
  }
});

test('a revocation by another process is seen once the TTL has passed, not before', async () => {
  const h = await twoHandles();
  try {
    const created = await createApiKey(h.db, { account: 'a' });
    const cache = new ActiveKeyCache(h.db, 5000);
    const t0 = 1_000_000;
    assert.ok(await cache.find(created.key, t0));
    assert.equal(await revokeApiKey(h.other, String(created.row.id)), 1);
    assert.ok(await cache.find(created.key, t0 + 4999), 'still remembered inside the TTL');
    assert.equal(await cache.find(created.key, t0 + 5001), undefined, 'looked up again after the TTL');
    // TTL 0: every lookup reads the database
    const again = await createApiKey(h.db, { account: 'a' });
    const uncached = new ActiveKeyCache(h.db, 0);
    assert.ok(await uncached.find(again.key, t0));
    await revokeApiKey(h.other, String(again.row.id));
    assert.equal(await uncached.find(again.key, t0), undefined);
  } finally {
    await h.close();
  }
});

test('unknown keys are not remembered, and a key created after a miss is found', async () => {
  const h = await twoHandles();
  try {
    const cache = new ActiveKeyCache(h.db, 60_000);
    assert.equal(await cache.find('sd_not-a-key'), undefined);
    const created = await createApiKey(h.other, { account: 'b' });
    assert.equal((await cache.find(created.key))?.account_id, created.row.account_id);
  } finally {
    await h.close();
  }
});

test('touch writes last_used_at at most once a minute per key', async () => {
  const h = await twoHandles();
  try {
    const created = await createApiKey(h.db, { account: 'a' });
    const cache = new ActiveKeyCache(h.db, 60_000);
    const stored = async () =>
      (
        await h.other
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('id', '=', created.row.id)
          .executeTakeFirst()
      )?.last_used_at;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const key = await cache.find(created.key, t0);
    assert.ok(key);
    await cache.touch(key, t0);
    assert.equal(await stored(), '2026-01-01T00:00:00.000Z');
    await cache.touch(key, t0 + 30_000);
    assert.equal(await stored(), '2026-01-01T00:00:00.000Z', 'not again within the minute');
    await cache.touch(key, t0 + 61_000);
    assert.equal(await stored(), '2026-01-01T00:01:01.000Z');
  } finally {
    await h.close();
  }
});
