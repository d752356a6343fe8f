// Queries compiled once per database and re-run with new values (src/store/compiled-queries.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { param, runCached } from '../../../src/store/compiled-queries.ts';
import { openSqlite } from '../../../src/store/db.ts';

test('each run substitutes its own values; the SQL is compiled once per database', async () => {
  const a = await openSqlite(':memory:');
  const b = await openSqlite(':memory:');
  try {
    for (const db of [a, b])
      await db
        .insertInto('settings')
        .values([
          { key: 'x', value: db === a ? 'a-x' : 'b-x' },
          { key: 'y', value: db === a ? 'a-y' : 'b-y' },
        ])
        .execute();
    let builds = 0;
    const get = (db: typeof a, key: string, notValue: string) =>
      runCached(
        db,
        'setting-test',
        (d) => {
          builds++;
          return d
            .selectFrom('settings')
            .select('value')
            .where('key', '=', param<string>(0))
            .where('value', '!=', param<string>(1));
        },
        [key, notValue],
      );
    assert.deepEqual(await get(a, 'x', ''), [{ value: 'a-x' }]);
    assert.deepEqual(await get(a, 'y', ''), [{ value: 'a-y' }]);
    assert.deepEqual(await get(a, 'y', 'a-y'), []);
    assert.deepEqual(
      await get(b, 'x', ''),
      [{ value: 'b-x' }],
      'another database has its own compiled query',
    );
    assert.equal(builds, 2);
  } finally {
    await a.destroy();
    await b.destroy();
  }
});

test('a value count that does not match the placeholders is refused', async () => {
  const db = await openSqlite(':memory:');
  try {
    await assert.rejects(
      runCached(
        db,
        'arity-test',
        (d) => d.selectFrom('settings').selectAll().where('key', '=', param<string>(0)),
        ['x', 'y'],
      ),
      /2 values given, 1 placeholders compiled/,
    );
  } finally {
    await db.destroy();
  }
});
