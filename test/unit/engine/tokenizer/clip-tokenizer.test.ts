import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ClipTokenizer } from '../../../../src/engine/tokenizer/clip-tokenizer.ts';
import { fixText, whitespaceClean } from '../../../../src/engine/tokenizer/text-cleanup.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';

interface VariantRef {
  input_ids: number[];
  untruncated_ids: number[];
  tokens: string[];
}
interface CaseRef {
  prompt: string;
  hf_slow_ftfy: VariantRef;
  hf_slow_no_ftfy: VariantRef;
  openai_clip_untruncated_ids: number[];
}
const ref = JSON.parse(readFileSync(fixturePath('sd-reference', 'refs', 'tokenizer.json'), 'utf8')) as {
  cases: CaseRef[];
  bos_id: number;
  eos_id: number;
  pad_id: number;
  max_length: number;
};
const tok = ClipTokenizer.fromFolder(fixturePath('clip-tokenizer'));

test('special ids and sizes come from the tokenizer folder', () => {
  assert.equal(tok.vocabSize, 49408);
  assert.equal(tok.bosId, ref.bos_id);
  assert.equal(tok.eosId, ref.eos_id);
  assert.equal(tok.padId, ref.pad_id);
  assert.equal(tok.maxLength, ref.max_length);
});

test('README check: "a photo of a cat"', () => {
  assert.deepEqual(tok.encode('a photo of a cat').untruncatedIds, [49406, 320, 1125, 539, 320, 2368, 49407]);
});

// Data table: every prompt of refs/tokenizer.json, every variant the fixture lists.
for (const [i, c] of ref.cases.entries()) {
  const label = `#${i} ${JSON.stringify(c.prompt.length > 40 ? `${c.prompt.slice(0, 40)}…` : c.prompt)}`;
  test(`hf_slow_ftfy (primary) ${label}`, () => {
    const enc = tok.encode(c.prompt, 'hf_slow_ftfy');
    assert.deepEqual(enc.untruncatedIds, c.hf_slow_ftfy.untruncated_ids);
    assert.deepEqual(Array.from(enc.inputIds), c.hf_slow_ftfy.input_ids);
    assert.deepEqual(enc.tokens, c.hf_slow_ftfy.tokens);
  });
  test(`openai_clip ${label}`, () => {
    assert.deepEqual(tok.encode(c.prompt, 'openai_clip').untruncatedIds, c.openai_clip_untruncated_ids);
  });
  test(`hf_slow_no_ftfy ${label}`, () => {
    const enc = tok.encode(c.prompt, 'hf_slow_no_ftfy');
    assert.deepEqual(enc.untruncatedIds, c.hf_slow_no_ftfy.untruncated_ids);
    assert.deepEqual(Array.from(enc.inputIds), c.hf_slow_no_ftfy.input_ids);
  });
}

test('long prompts: 77 ids, last kept id forced to EOS, untruncated ids kept', () => {
  const long = ref.cases.find((c) => c.hf_slow_ftfy.untruncated_ids.length > 77);
  assert.ok(long, 'fixture has a >77-token prompt');
  const enc = tok.encode(long.prompt);
  assert.equal(enc.inputIds.length, 77);
  assert.equal(enc.inputIds[76], 49407);
  assert.deepEqual(Array.from(enc.inputIds.subarray(0, 76)), long.hf_slow_ftfy.untruncated_ids.slice(0, 76));
  assert.ok(enc.untruncatedIds.length > 77);
});

// ftfy-style cleanup cases (expected values are what ftfy 6.1 fix_text + whitespace_clean give).
const cleanupTable: [string, string][] = [
  ['caf&eacute; &amp; bar', 'café & bar'],
  ['&lt;b&gt; stays when a tag is present <b>', '&lt;b&gt; stays when a tag is present <b>'],
  ['&#233;t&#xE9;', 'été'],
  ['\u201csmart\u201d \u2018quotes\u2019', '"smart" \'quotes\''],
  ['\ufb01ne \ufb02ower', 'fine flower'],
  ['\uff21\uff22\uff23\u3000\uff11\uff12', 'ABC 12'],
  ['cafe\u0301', 'café'],
  ['a\u0000b\u200bc', 'ab\u200bc'],
  ['  many \t\n  spaces\u00a0here  ', 'many spaces here'],
];
for (const [input, want] of cleanupTable) {
  test(`fixText + whitespaceClean: ${JSON.stringify(input)}`, () => {
    assert.equal(whitespaceClean(fixText(input)), want);
  });
}

test('BPE cache: the same word twice gives the same tokens', () => {
  const a = tok.tokenize('supercalifragilisticexpialidocious supercalifragilisticexpialidocious');
  assert.equal(a.length % 2, 0);
  assert.deepEqual(a.slice(0, a.length / 2), a.slice(a.length / 2));
});
