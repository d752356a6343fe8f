import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromptAttention } from '../../../../src/engine/prompt/attention-parser.ts';

// Expected values: the examples documented for A1111's parse_prompt_attention (float results of the
// same double arithmetic), plus escapes, BREAK and malformed input.
const TABLE: [string, [string, number][]][] = [
  ['normal text', [['normal text', 1]]],
  [
    'an (important) word',
    [
      ['an ', 1],
      ['important', 1.1],
      [' word', 1],
    ],
  ],
  ['(unbalanced', [['unbalanced', 1.1]]],
  ['\\(literal\\]', [['(literal]', 1]]],
  ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
  [
    'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
    [
      ['a ', 1],
      ['house', 1.5730000000000004],
      [' ', 1.1],
      ['on', 1],
      [' a ', 1.1],
      ['hill', 0.55],
      [', sun, ', 1.1],
      ['sky', 1.4641000000000006],
      ['.', 1.1],
    ],
  ],
  [
    '(masterpiece:1.2), best quality, [blurry]',
    [
      ['masterpiece', 1.2],
      [', best quality, ', 1],
      ['blurry', 1 / 1.1],
    ],
  ],
  [
    '[[nested]] ((x))',
    [
      ['nested', 1 / 1.1 / 1.1],
      [' ', 1],
      ['x', 1.1 * 1.1],
    ],
  ],
  ['(a:0.0)', [['a', 0]]],
  ['(neg:-1.5)', [['neg', -1.5]]],
  ['time 10:30', [['time 10:30', 1]]],
  ['back\\\\slash', [['back\\slash', 1]]],
  ['', [['', 1]]],
  [')] stray closers', [[')] stray closers', 1]]],
];

for (const [input, want] of TABLE) {
  test(`parse ${JSON.stringify(input)}`, () => {
    const got = parsePromptAttention(input).map((f) => [f.text, f.weight]);
    assert.equal(got.length, want.length, JSON.stringify(got));
    got.forEach(([text, w], i) => {
      assert.equal(text, want[i][0]);
      assert.ok(Math.abs((w as number) - want[i][1]) < 1e-12, `${text}: ${w} vs ${want[i][1]}`);
    });
  });
}

test('BREAK splits into a marker; optional', () => {
  const parts = parsePromptAttention('a dog BREAK (a cat)');
  assert.deepEqual(
    parts.map((p) => [p.text, p.weight, !!p.isBreak]),
    [
      ['a dog', 1, false],
      ['BREAK', -1, true],
      ['', 1, false],
      ['a cat', 1.1, false],
    ],
  );
  assert.deepEqual(
    parsePromptAttention('a dog BREAK a cat', { breakKeyword: false }).map((p) => p.text),
    ['a dog BREAK a cat'],
  );
  assert.equal(parsePromptAttention('breakfast BREAKS').length, 1, 'only the whole upper-case word');
});
