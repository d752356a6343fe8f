// GET /prompts and /tunes/:id/prompts: newest first, limit/before_id/offset, tune_id and text filters.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, harness, trainedTune } from './helpers.ts';

let h: Harness;
const ids: number[] = [];
let t1: number;
let t2: number;
before(async () => {
  h = await harness();
  t1 = (await trainedTune(h)).id;
  t2 = (await trainedTune(h)).id;
  for (const [tune, text] of [
    [t1, 'ohwx man 100% real'],
    [t1, 'ohwx man snake_case'],
    [t2, 'OHWX man at the BEACH'],
    [t2, 'ohwx man in 1000 ways'],
  ] as const) {
    const r = await h.req({
      method: 'POST',
      url: `/tunes/${tune}/prompts`,
      payload: { prompt: { text, num_images: 1 } },
    });
    ids.push(r.json().id);
  }
});
after(() => h.close());

const list = async (url: string) =>
  (await h.req({ method: 'GET', url })).json().map((p: { id: number }) => p.id);

test('all own prompts, newest first, with limit, before_id and offset', async () => {
  assert.deepEqual(await list('/prompts'), [...ids].reverse());
  assert.deepEqual(await list('/prompts?limit=2'), [ids[3], ids[2]]);
  assert.deepEqual(await list(`/prompts?limit=2&before_id=${ids[2]}`), [ids[1], ids[0]]);
  assert.deepEqual(await list('/prompts?offset=3'), [ids[0]]);
});

test('tune_id filter and the nested list agree', async () => {
  assert.deepEqual(await list(`/prompts?tune_id=${t1}`), [ids[1], ids[0]]);
  assert.deepEqual(await list(`/tunes/${t2}/prompts`), [ids[3], ids[2]]);
  assert.deepEqual(await list(`/tunes/${t2}/prompts?limit=1`), [ids[3]]);
});

test('text filter: case-insensitive substring, LIKE wildcards taken literally', async () => {
  assert.deepEqual(await list('/prompts?text=beach'), [ids[2]]);
  assert.deepEqual(await list('/prompts?text=100%25'), [ids[0]]);
  assert.deepEqual(await list('/prompts?text=e_c'), [ids[1]]);
  assert.deepEqual(await list('/prompts?text=10_'), [], '_ is not a wildcard');
  assert.deepEqual(await list('/prompts?text=%25'), [ids[0]], '% is not a wildcard');
});
