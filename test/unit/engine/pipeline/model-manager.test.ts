// ModelManager: one load per key under concurrency, reuse across prompts, LRU eviction under a memory budget,
// models in use never evicted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelManager, modelBytes } from '../../../../src/engine/model-manager.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { GRAPH_CACHE } from './helpers.ts';

const spec = (key: string) => ({
  key,
  path: fixturePath('sd-reference', 'model'),
  tokenizerDir: fixturePath('clip-tokenizer'),
});

test('two concurrent acquisitions of one model build it once; a later one reuses the sessions', async () => {
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } });
  try {
    const [a, b] = await Promise.all([mm.acquire(spec('m')), mm.acquire(spec('m'))]);
    assert.equal(a.model, b.model);
    assert.equal(mm.stats().baseLoads, 1);
    a.release();
    b.release();
    const c = await mm.acquire(spec('m'));
    assert.equal(c.reused, true);
    assert.equal(c.model, a.model);
    c.release();
    assert.equal(mm.stats().baseLoads, 1);
  } finally {
    await mm.close();
  }
});

test('with room for one model, loading another evicts the idle one (least recently used)', async () => {
  const one = modelBytes(fixturePath('sd-reference', 'model'));
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, memoryBudgetBytes: Math.floor(one * 1.5) });
  try {
    const a = await mm.acquire(spec('a'));
    a.release();
    const b = await mm.acquire(spec('b'));
    b.release();
    assert.deepEqual(mm.stats().loadedKeys, ['b']);
    assert.equal(mm.stats().evictions, 1);
    // the evicted model's sessions were disposed
    await assert.rejects(() => a.model.clip.encode(new Int32Array(77)), /disposed/);
  } finally {
    await mm.close();
  }
});

test('a model in use is never evicted: the new one loads beside it', async () => {
  const one = modelBytes(fixturePath('sd-reference', 'model'));
  const mm = new ModelManager({ cacheDir: GRAPH_CACHE, memoryBudgetBytes: Math.floor(one * 1.5) });
  try {
    const a = await mm.acquire(spec('a'));
    const b = await mm.acquire(spec('b'));
    assert.deepEqual(mm.stats().loadedKeys.sort(), ['a', 'b']);
    assert.equal(mm.stats().evictions, 0);
    a.release();
    b.release();
  } finally {
    await mm.close();
  }
});
