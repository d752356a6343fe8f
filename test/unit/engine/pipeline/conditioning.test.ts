// Text conditioning: prompts over 77 tokens become 77-token chunks (not cut), cond/uncond equal length,
// use_lpw weights change the embeddings and (word:1) weighting equals the plain prompt.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LoadedSdModel } from '../../../../src/engine/model-manager.ts';
import { encodeConditioning } from '../../../../src/engine/pipeline/index.ts';
import { maxAbsDiff, openFixtureModel } from './helpers.ts';

let model: LoadedSdModel;
before(async () => {
  model = await openFixtureModel();
});
after(() => model.dispose());

test('a 100-token prompt is encoded in two 77-token windows; the short negative is padded to match', async () => {
  const words = ['cat', 'dog', 'tree', 'house', 'red'];
  const long = Array.from({ length: 100 }, (_, i) => words[i % 5]).join(' ');
  assert.equal(model.tokenizer.encodeIds(long).length, 100);
  const c = await encodeConditioning(model, long, 'blurry');
  assert.deepEqual(c.cond.dims, [1, 154, 32]);
  assert.deepEqual(c.uncond.dims, [1, 154, 32]);
});

test('use_lpw: (word:1.5) changes the embedding, (word:1) does not', async () => {
  const plain = await encodeConditioning(model, 'a red cat', '', false);
  const one = await encodeConditioning(model, 'a (red:1) cat', '', true);
  const up = await encodeConditioning(model, 'a (red:1.5) cat', '', true);
  assert.ok(maxAbsDiff(plain.cond.data, one.cond.data) < 1e-5);
  assert.ok(maxAbsDiff(plain.cond.data, up.cond.data) > 1e-3);
});
