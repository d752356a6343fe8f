import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { applyPromptWeights } from '../../../../src/engine/prompt/apply-weights.ts';
import {
  CHUNK_LENGTH,
  equalizeChunkCounts,
  plainPromptChunks,
  weightedPromptChunks,
} from '../../../../src/engine/prompt/chunks.ts';
import { ClipTokenizer } from '../../../../src/engine/tokenizer/clip-tokenizer.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';

const tok = ClipTokenizer.fromFolder(fixturePath('clip-tokenizer'));
const BOS = 49406;
const EOS = 49407;
const ids = (text: string) => tok.encodeIds(text);

test('plain short prompt: one chunk equal to the tokenizer input_ids', () => {
  const ref = JSON.parse(readFileSync(fixturePath('sd-reference', 'refs', 'tokenizer.json'), 'utf8'));
  for (const c of ref.cases as {
    prompt: string;
    hf_slow_ftfy: { input_ids: number[]; untruncated_ids: number[] };
  }[]) {
    const chunks = plainPromptChunks(tok, c.prompt);
    const n = c.hf_slow_ftfy.untruncated_ids.length - 2;
    assert.equal(chunks.length, Math.max(1, Math.ceil(n / 75)), c.prompt);
    if (n <= 75) assert.deepEqual(Array.from(chunks[0].ids), c.hf_slow_ftfy.input_ids, c.prompt);
    // All chunks together hold exactly the untruncated tokens, in order.
    const flat = chunks.flatMap((ch) => Array.from(ch.ids.subarray(1, 1 + ch.tokenCount)));
    assert.deepEqual(flat, c.hf_slow_ftfy.untruncated_ids.slice(1, -1), c.prompt);
    for (const ch of chunks) assert.ok(ch.weights.every((w) => w === 1));
  }
});

test('plain long prompt (>77 tokens) becomes 77-id chunks: [BOS] 75 tokens [EOS], last one padded', () => {
  const text = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
  const all = ids(text);
  assert.ok(all.length > 150);
  const chunks = plainPromptChunks(tok, text);
  assert.equal(chunks.length, Math.ceil(all.length / 75));
  for (const [k, ch] of chunks.entries()) {
    assert.equal(ch.ids.length, CHUNK_LENGTH);
    assert.equal(ch.ids[0], BOS);
    assert.deepEqual(
      Array.from(ch.ids.subarray(1, 1 + ch.tokenCount)),
      all.slice(75 * k, 75 * k + ch.tokenCount),
    );
    assert.equal(ch.ids[1 + ch.tokenCount], EOS);
    assert.ok(
      Array.from(ch.ids.subarray(1 + ch.tokenCount)).every((id) => id === EOS),
      'padding',
    );
  }
  assert.equal(chunks[0].tokenCount, 75);
  assert.equal(plainPromptChunks(tok, text, { maxChunks: 1 }).length, 1);
});

test('weighted chunks: each fragment tokenized alone, weights per token, BOS/EOS/pad weight 1', () => {
  const [chunk, ...rest] = weightedPromptChunks(tok, 'a (red:1.5) [apple]');
  assert.equal(rest.length, 0);
  const expectIds = [...ids('a '), ...ids('red'), ...ids('apple')];
  const expectW = [
    ...ids('a ').map(() => 1),
    ...ids('red').map(() => 1.5),
    ...ids('apple').map(() => 1 / 1.1),
  ];
  assert.deepEqual(Array.from(chunk.ids.subarray(1, 1 + expectIds.length)), expectIds);
  assert.deepEqual(Array.from(chunk.weights.subarray(1, 1 + expectW.length)), expectW.map(Math.fround));
  assert.equal(chunk.weights[0], 1);
  assert.ok(Array.from(chunk.weights.subarray(1 + expectW.length)).every((w) => w === 1));
});

test('BREAK closes the chunk early; empty prompt gives one empty chunk', () => {
  const chunks = weightedPromptChunks(tok, 'a photo of a dog BREAK a photo of a cat');
  assert.equal(chunks.length, 2);
  assert.deepEqual(Array.from(chunks[0].ids.subarray(1, 1 + chunks[0].tokenCount)), ids('a photo of a dog'));
  assert.deepEqual(Array.from(chunks[1].ids.subarray(1, 1 + chunks[1].tokenCount)), ids('a photo of a cat'));
  const empty = weightedPromptChunks(tok, '');
  assert.equal(empty.length, 1);
  assert.deepEqual(Array.from(empty[0].ids.subarray(0, 3)), [BOS, EOS, EOS]);
  const noBreak = weightedPromptChunks(tok, 'a dog BREAK a cat', { breakKeyword: false });
  assert.equal(noBreak.length, 1);
  assert.ok(noBreak[0].ids.includes(ids('break')[0]));
});

test('weighted long prompt keeps weights across the 75-token boundary', () => {
  const text = `${'cat '.repeat(70)}(dog dog dog dog dog dog dog dog dog dog:1.4)`;
  const chunks = weightedPromptChunks(tok, text);
  assert.equal(chunks.length, 2);
  assert.equal(chunks[0].tokenCount, 75);
  assert.deepEqual(
    Array.from(chunks[0].weights.subarray(71, 76)),
    [1.4, 1.4, 1.4, 1.4, 1.4].map(Math.fround),
  );
  assert.equal(chunks[1].weights[1], Math.fround(1.4));
});

test('CFG: the shorter prompt is padded with empty chunks', () => {
  const long = plainPromptChunks(tok, 'x '.repeat(200));
  const short = plainPromptChunks(tok, 'blurry');
  const [a, b] = equalizeChunkCounts(tok, long, short);
  assert.equal(a.length, long.length);
  assert.equal(b.length, long.length);
  assert.equal(b[1].tokenCount, 0);
  assert.equal(b[1].ids[1], EOS);
});

test('applyPromptWeights: scales token rows, restores each chunk mean (A1111) or the sequence mean', () => {
  const H = 4;
  const chunks = weightedPromptChunks(tok, '(a:2) b');
  const hidden = Float32Array.from({ length: 77 * H }, (_, k) => 0.5 + (k % 7) * 0.1);
  const before = hidden.reduce((s, v) => s + v, 0);
  const out = applyPromptWeights(hidden.slice(), chunks, H);
  const after = out.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(after - before) < 1e-3, `mean restored: ${after} vs ${before}`);
  // Token 1 ('a', weight 2) relative to token 2 ('b', weight 1) is doubled.
  const ratioBefore = hidden[1 * H] / hidden[2 * H];
  const ratioAfter = out[1 * H] / out[2 * H];
  assert.ok(Math.abs(ratioAfter / ratioBefore - 2) < 1e-5);
  // All-ones weights change nothing.
  const plain = plainPromptChunks(tok, 'a b');
  assert.deepEqual(applyPromptWeights(hidden.slice(), plain, H), hidden);
  // Sequence scope over two chunks keeps the total mean, not each chunk's.
  const two = weightedPromptChunks(tok, '(a:3) BREAK b');
  const h2 = Float32Array.from({ length: 2 * 77 * H }, (_, k) => 1 + (k % 5) * 0.01);
  const seq = applyPromptWeights(h2.slice(), two, H, 'sequence');
  const sum = (v: Float32Array) => v.reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(sum(seq) - sum(h2)) < 1e-2);
  const perChunk = applyPromptWeights(h2.slice(), two, H, 'chunk');
  assert.ok(Math.abs(sum(perChunk.subarray(0, 77 * H)) - sum(h2.subarray(0, 77 * H))) < 1e-2);
  assert.throws(() => applyPromptWeights(new Float32Array(10), chunks, H), /hidden states/);
});
