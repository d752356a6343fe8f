import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  containsWord,
  fillCharacteristics,
  parseTuneTags,
  triggerWordError,
} from '../../../src/domain/prompt-text.ts';

const tune = { id: 7, token: 'ohwx', name: 'man', isBaseModel: false };

test('trigger word: whole word, case-insensitive', () => {
  const cases: [string, boolean][] = [
    ['ohwx man', true],
    ['a photo of OHWX man', true],
    ['(ohwx:1.2) man', true],
    ['ohwx, portrait', true],
    ['ohwxman', false],
    ['nohwx man', false],
    ['a man', false],
    ['<lora:7:0.8> portrait', true],
    ['<lora:8:1> portrait', false],
    ['<faceid:7:1> photo', true],
  ];
  for (const [text, ok] of cases) assert.equal(triggerWordError(text, tune) === null, ok, text);
  assert.equal(triggerWordError('anything', { ...tune, isBaseModel: true }), null);
  assert.match(triggerWordError('a man', tune)!, /"ohwx".*<lora:7:1>/);
});

test('tags: <lora:ID:weight> and <faceid:ID:weight>, weight defaulting to 1', () => {
  assert.deepEqual(parseTuneTags('x <lora:12:0.5> y <faceid:3:1> <LORA:4>'), [
    { kind: 'lora', tuneId: 12, weight: 0.5 },
    { kind: 'faceid', tuneId: 3, weight: 1 },
    { kind: 'lora', tuneId: 4, weight: 1 },
  ]);
  assert.deepEqual(parseTuneTags('<lora:abc:1>'), []);
});

test('{{characteristics}}: known keys filled, unknown left for the generator', () => {
  assert.equal(
    fillCharacteristics('ohwx man with {{eye_color}} eyes, {{ hair }}', {
      eye_color: 'green',
      hair: 'curly',
    }),
    'ohwx man with green eyes, curly',
  );
  assert.equal(fillCharacteristics('{{unknown}} stays', {}), '{{unknown}} stays');
  assert.equal(fillCharacteristics('{{toString}}', {}), '{{toString}}', 'no prototype keys');
});

test('containsWord escapes regex characters', () => {
  assert.ok(containsWord('a+b c', 'a+b'));
  assert.ok(!containsWord('aab c', 'a+b'));
});
