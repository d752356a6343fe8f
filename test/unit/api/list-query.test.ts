import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idParam, parsePage } from '../../../src/api/list-query.ts';
import type { AppError } from '../../../src/domain/errors.ts';

test('parsePage: defaults, clamps and the offset cap', () => {
  assert.deepEqual(parsePage({}, 200), { limit: 20, offset: 0 });
  assert.deepEqual(parsePage({ limit: '500', offset: '3', before_id: '9' }, 200), {
    limit: 120,
    offset: 3,
    beforeId: 9,
  });
  assert.deepEqual(parsePage({ limit: '0' }, 200), { limit: 1, offset: 0 });
  assert.deepEqual(parsePage({ limit: 'abc', per_page: '5' }, 200), { limit: 5, offset: 0 });
  assert.throws(
    () => parsePage({ offset: '201' }, 200),
    (e: AppError) => e.code === 'offset_too_large',
  );
});

test('idParam: digits only, else not found', () => {
  assert.equal(idParam({ id: '42' }), 42);
  for (const bad of ['-1', '1e3', 'abc', '', '99999999999999999999'])
    assert.throws(
      () => idParam({ id: bad }),
      (e: AppError) => e.statusCode === 404,
      bad,
    );
});
