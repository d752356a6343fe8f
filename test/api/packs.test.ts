// Packs (CLIENTS.md items 34–36): gallery packs from a file, own packs, running a pack in its three modes (train a
// new tune, reuse tunes, a subset of prompts), prompt_attributes overrides in JSON and multipart, prompts_callback.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { adaptText, dropUnknownPlaceholders, loadPacksFile } from '../../src/domain/packs.ts';
import { listGalleryPacks } from '../../src/store/packs.ts';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  type Json,
  jpeg,
  multipart,
  receiver,
  trainedTune,
  waitFor,
} from './helpers.ts';

const SHIPPED = new URL('../../packs', import.meta.url).pathname;

let h: Harness;
before(async () => {
  h = await harness({ packsFile: SHIPPED });
});
after(() => h.close());

const images = () => Promise.all([0, 1, 2, 3].map(() => dataUrl()));
const promptsOf = async (tuneId: number) =>
  (await h.req({ method: 'GET', url: `/tunes/${tuneId}/prompts?limit=100` })).json() as Json[];

test('the shipped packs load, list in the gallery for every account, and show their prompts per class', async () => {
  for (const key of [h.keyA, h.keyB]) {
    const r = await h.req({ method: 'GET', url: '/gallery/packs', key });
    assert.equal(r.statusCode, 200);
    const slugs = r.json().map((p: Json) => p.slug);
    assert.deepEqual(slugs, ['professional-headshots', 'natural-light-portraits'], 'file order');
  }
  const p = (await h.req({ method: 'GET', url: '/p/professional-headshots.json' })).json();
  assert.equal(typeof p.id, 'number');
  assert.deepEqual(Object.keys(p.prompts_per_class).sort(), ['man', 'woman']);
  assert.equal(p.prompts_per_class.man.length, 4);
  assert.equal(p.costs.man.num_images, 16);
  assert.equal(p.cost_mc_hash.woman, 0);
  for (const t of [...p.prompts_per_class.man, ...p.prompts_per_class.woman])
    assert.match(t.text, /\bohwx (man|woman)\b/);
  // by numeric id too
  assert.equal((await h.req({ method: 'GET', url: `/p/${p.id}` })).json().slug, 'professional-headshots');
  assert.equal((await h.req({ method: 'GET', url: '/p/no-such-pack' })).statusCode, 404);
});

test('loading the file again updates packs in place (same ids); a bad template names its class and index', async () => {
  const before = await listGalleryPacks(h.rt.svc.db);
  await loadPacksFile(h.rt.svc.db, SHIPPED);
  assert.deepEqual(
    (await listGalleryPacks(h.rt.svc.db)).map((p) => p.id),
    before.map((p) => p.id),
  );
  const dir = mkdtempSync(join(tmpdir(), 'packs-'));
  const file = join(dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({ packs: [{ slug: 'bad', title: 'Bad', prompts: { man: ['a man in a hat'] } }] }),
  );
  await assert.rejects(loadPacksFile(h.rt.svc.db, file), /prompts\.man\.0\.text.*ohwx/);
});

test('a YAML packs file loads like JSON', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'packs-yaml-'));
  writeFileSync(
    join(dir, 'pets.yaml'),
    [
      'packs:',
      '  - slug: yaml-pets',
      '    title: Pets from YAML',
      '    prompts:',
      '      cat:',
      '        - ohwx cat on a windowsill, morning light',
      '        - text: ohwx cat in a garden',
      '          num_images: 2',
    ].join('\n'),
  );
  assert.deepEqual(await loadPacksFile(h.rt.svc.db, dir), ['yaml-pets']);
  const p = (await h.req({ method: 'GET', url: '/p/yaml-pets' })).json();
  assert.deepEqual(
    p.prompts_per_class.cat.map((t: Json) => [t.text, t.num_images]),
    [
      ['ohwx cat on a windowsill, morning light', undefined],
      ['ohwx cat in a garden', 2],
    ],
  );
});

test("GET /packs lists only the caller's packs; POST /packs creates one (201) with a derived slug", async () => {
  assert.deepEqual((await h.req({ method: 'GET', url: '/packs', key: h.keyB })).json(), []);
  const r = await h.req({
    method: 'POST',
    url: '/packs',
    payload: {
      pack: { title: 'My Cats!', model_type: 'lora', prompts: { cat: ['ohwx cat asleep on a sofa'] } },
    },
  });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal(r.json().slug, 'my-cats');
  assert.equal(r.json().model_type, 'lora');
  const again = await h.req({ method: 'POST', url: '/packs', payload: { pack: { title: 'My Cats!' } } });
  assert.equal(again.json().slug, 'my-cats-2');
  assert.deepEqual(
    (await h.req({ method: 'GET', url: '/packs' })).json().map((p: Json) => p.slug),
    ['my-cats-2', 'my-cats'],
  );
  assert.deepEqual((await h.req({ method: 'GET', url: '/packs', key: h.keyB })).json(), []);
  assert.equal((await h.req({ method: 'GET', url: '/p/my-cats', key: h.keyB })).statusCode, 404);
  const bad = await h.req({
    method: 'POST',
    url: '/packs',
    payload: { pack: { title: 'x', base_tune_id: 999999 } },
  });
  assert.equal(bad.statusCode, 422);
});

test('POST /p/:slug/tunes (JSON): 201 tune; one prompt per class template with prompt_attributes overrides; they run after training', async () => {
  const rx = await receiver();
  try {
    const r = await h.req({
      method: 'POST',
      url: '/p/professional-headshots/tunes',
      payload: {
        tune: {
          title: 'pack-json',
          name: 'woman',
          branch: 'fast',
          token: 'zwx',
          characteristics: { short_description: 'curly red hair' },
          images: await images(),
          prompt_attributes: { num_images: 1, callback: `${rx.base}/each?x=1` },
        },
      },
    });
    assert.equal(r.statusCode, 201, r.body);
    const tune = r.json();
    assert.equal(typeof tune.id, 'number');
    assert.equal(tune.trained_at, null);
    const prompts = await promptsOf(tune.id);
    assert.equal(prompts.length, 4);
    for (const p of prompts) {
      assert.equal(p.num_images, 1);
      assert.match(p.text, /\bzwx woman\b/, 'the pack token becomes the tune token');
      assert.doesNotMatch(p.text, /\bohwx\b/);
      assert.equal(p.callback, `${rx.base}/each?x=1`);
    }
    for (const p of prompts) {
      const done = await completedPrompt(h, `/prompts/${p.id}`);
      assert.equal(done.status, 'completed');
      assert.equal(done.images.length, 1);
    }
    await waitFor(() => rx.got.filter((g) => g.url === '/each?x=1').length === 4, 'four prompt callbacks');
    // the same title again: the existing tune, no second set of prompts
    const replay = await h.req({
      method: 'POST',
      url: '/p/professional-headshots/tunes',
      payload: { tune: { title: 'pack-json', name: 'woman', branch: 'fast', images: await images() } },
    });
    assert.equal(replay.statusCode, 200);
    assert.equal(replay.json().id, tune.id);
    assert.equal((await promptsOf(tune.id)).length, 4);
  } finally {
    await rx.close();
  }
});

test('multipart: tune[prompt_attributes][<key>] overrides, images[] files, prompt_ids[] subset, prompts_callback once with all prompts', async () => {
  const rx = await receiver();
  try {
    const pack = (await h.req({ method: 'GET', url: '/p/natural-light-portraits' })).json();
    const ids = pack.prompts_per_class.man.map((p: Json) => p.id);
    const img = await jpeg(64, 64);
    const mp = await multipart([
      ['tune[title]', 'pack-multipart'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[prompt_attributes][num_images]', '3'],
      ['tune[prompt_attributes][super_resolution]', 'true'],
      ['prompt_ids[]', String(ids[0])],
      ['prompt_ids[]', String(ids[2])],
      ['prompts_callback', `${rx.base}/all?run=1`],
      ...[0, 1, 2, 3].map((): [string, { data: Buffer }] => ['tune[images][]', { data: img }]),
    ]);
    const r = await h.req({ method: 'POST', url: `/p/${pack.id}/tunes`, ...mp });
    assert.equal(r.statusCode, 201, r.body);
    const prompts = await promptsOf(r.json().id);
    assert.equal(prompts.length, 2);
    assert.deepEqual(
      prompts.map((p) => p.text).sort(),
      [pack.prompts_per_class.man[0].text, pack.prompts_per_class.man[2].text].sort(),
    );
    for (const p of prompts) {
      assert.equal(p.num_images, 3);
      assert.equal(p.super_resolution, true);
    }
    const hit = await waitFor(() => rx.got.find((g) => g.url === '/all?run=1'), 'prompts_callback');
    const body = JSON.parse(hit.body);
    assert.ok(Array.isArray(body));
    assert.deepEqual(body.map((p: Json) => p.id).sort(), prompts.map((p) => p.id).sort());
    for (const p of body) {
      assert.equal(p.status, 'completed');
      assert.equal(p.images.length, 3);
    }
    // every prompt is final: no second call can come; the delivery log holds exactly one
    const log = (await h.req({ method: 'GET', url: '/webhook_deliveries?limit=120' })).json();
    assert.equal(
      log.filter((d: Json) => d.event === 'pack.prompts_done' && d.url.endsWith('run=1')).length,
      1,
    );
  } finally {
    await rx.close();
  }
});

test('tune_ids[]: no training, the pack prompts go to the existing tunes; the answer is the first tune (201)', async () => {
  const t1 = await trainedTune(h, { name: 'man' });
  const t2 = await trainedTune(h, { name: 'dog', token: 'sks' });
  const r = await h.req({
    method: 'POST',
    url: '/p/natural-light-portraits/tunes',
    payload: { tune_ids: [t1.id, t2.id], prompt_attributes: { num_images: 1 } },
  });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal(r.json().id, t1.id);
  const p1 = await promptsOf(t1.id);
  const p2 = await promptsOf(t2.id);
  assert.equal(p1.length, 3, 'the man templates on the man tune');
  assert.equal(p2.length, 2, 'the dog templates on the dog tune');
  for (const p of p2) assert.match(p.text, /\bsks dog\b/);
  for (const p of [...p1, ...p2])
    assert.equal((await completedPrompt(h, `/prompts/${p.id}`)).status, 'completed');
  // someone else's tune is not reusable
  const other = await h.req({
    method: 'POST',
    url: '/p/natural-light-portraits/tunes',
    key: h.keyB,
    payload: { tune_ids: [t1.id] },
  });
  assert.equal(other.statusCode, 422);
});

test('a class the pack does not cover, or an unknown prompt id, is a 422 and creates no tune', async () => {
  const cat = await h.req({
    method: 'POST',
    url: '/p/professional-headshots/tunes',
    payload: { tune: { title: 'pack-cat', name: 'cat', branch: 'fast', images: await images() } },
  });
  assert.equal(cat.statusCode, 422);
  assert.match(cat.body, /no prompts for class \\"cat\\"/);
  const sub = await h.req({
    method: 'POST',
    url: '/p/professional-headshots/tunes',
    payload: {
      tune: { title: 'pack-sub', name: 'man', branch: 'fast', images: await images() },
      prompt_ids: [1],
    },
  });
  assert.equal(sub.statusCode, 422);
  const titles = (await h.req({ method: 'GET', url: '/tunes?limit=100' })).json().map((t: Json) => t.title);
  assert.ok(!titles.includes('pack-cat') && !titles.includes('pack-sub'));
});

test('adaptText swaps whole-word tokens only; unknown {{placeholders}} are dropped with their comma', () => {
  assert.equal(adaptText('ohwx man, ohwxy, OHWX woman', 'ohwx', 'zwx'), 'zwx man, ohwxy, zwx woman');
  assert.equal(
    dropUnknownPlaceholders('photo of ohwx man, {{short_description}}, in a suit, {{eye_color}}', {
      eye_color: 'blue',
    }),
    'photo of ohwx man, in a suit, {{eye_color}}',
  );
});
