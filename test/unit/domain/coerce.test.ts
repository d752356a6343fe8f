import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blankToUndefined, toBoolean, toNumber } from '../../../src/domain/coerce.ts';
import { promptSchema } from '../../../src/domain/prompt-schema.ts';

test('form booleans', () => {
  for (const v of ['true', 'True', 'TRUE', '1', 1, true]) assert.equal(toBoolean(v), true, String(v));
  for (const v of ['false', 'False', '0', 0, false]) assert.equal(toBoolean(v), false, String(v));
  assert.equal(toBoolean(''), undefined);
  assert.equal(toBoolean('maybe'), 'maybe', 'left for the schema to reject');
});

test('form numbers', () => {
  assert.equal(toNumber('400'), 400);
  assert.equal(toNumber(' 7.5 '), 7.5);
  assert.equal(toNumber('-0.1'), -0.1);
  assert.equal(toNumber('.5'), 0.5);
  assert.equal(toNumber('1e3'), 1000);
  assert.equal(toNumber('12px'), '12px');
  assert.equal(toNumber(''), undefined);
  assert.equal(blankToUndefined(null), undefined);
  assert.equal(blankToUndefined('  '), undefined);
});

test('prompt schema: every field carries help text (for the OpenAPI description)', () => {
  for (const [name, field] of Object.entries(promptSchema.shape)) {
    assert.ok(field.description && field.description.length > 3, `${name} has no .describe()`);
  }
});

test('prompt schema: unknown fields are dropped, not rejected', () => {
  const r = promptSchema.safeParse({ text: 'ohwx man', page: 2, preset: 'x' });
  assert.ok(r.success);
  assert.deepEqual(
    Object.keys(r.data).filter((k) => (r.data as Record<string, unknown>)[k] !== undefined),
    ['text'],
  );
});
