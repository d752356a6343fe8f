import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixturePath } from '../helpers/fixtures.ts';

test('shared fixtures are reachable beside the repository', () => {
  assert.ok(fixturePath('clip-tokenizer', 'vocab.json').endsWith('vocab.json'));
});
