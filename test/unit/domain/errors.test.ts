// The error registry and docs/errors.md list the same codes, statuses and messages (both ways).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AppError, ERRORS, validationError } from '../../../src/domain/errors.ts';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|$/gm)].map((m) => ({
  code: m[1],
  status: Number(m[2]),
  message: m[3],
}));

test('every registry code is documented with its status and message', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    const row = rows.find((r) => r.code === code);
    assert.ok(row, `${code} missing from docs/errors.md`);
    assert.equal(row.status, e.statusCode, code);
    assert.equal(row.message, e.message, code);
  }
});

test('every documented code exists in the registry', () => {
  assert.ok(rows.length >= 10);
  for (const r of rows) assert.ok(r.code in ERRORS, `${r.code} documented but not in the registry`);
});

test('AppError takes status from the registry; validationError summarises the first field', () => {
  const e = new AppError('not_found', 'Tune not found');
  assert.equal(e.statusCode, 404);
  assert.equal(e.message, 'Tune not found');
  const v = validationError({ num_images: ['too big'], w: ['odd'] });
  assert.equal(v.statusCode, 422);
  assert.equal(v.message, 'num_images: too big');
  assert.deepEqual(v.fields, { num_images: ['too big'], w: ['odd'] });
});
