// CLIENTS.md conformance: one test per numbered behaviour, replayed over real HTTP against a live server on
// 127.0.0.1 with the platform's fetch and FormData, the way the studied clients talk to Astria. Everything outside
// Atelier (image hosts, callback receivers) is one loopback server (./http.ts). docs/conformance.md lists what each
// test checks.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { type LiveServer, liveServer } from '../client/live-server.ts';
import { type Answer, caller, type Json, outside, photo, until } from './http.ts';

const PACKS = new URL('../../packs', import.meta.url).pathname;
const BASE_TUNE_IDS = [1504944, 690204, 3618064, 3691308, 4665564];

let live: LiveServer;
let ext: Awaited<ReturnType<typeof outside>>;
let call: ReturnType<typeof caller>; // astria-compat key: images as URL strings, as the clients expect
let callB: ReturnType<typeof caller>; // another account
let tune: Json; // a trained fast LoRA tune of the compat key's account

before(async () => {
  live = await liveServer({ packsFile: PACKS });
  ext = await outside();
  call = caller(live.baseUrl, live.h.keyCompat);
  callB = caller(live.baseUrl, live.h.keyB);
  for (const id of BASE_TUNE_IDS)
    await addBaseTune(live.h.rt.svc, { id, title: `base ${id}`, branch: 'fast', name: 'base' });
  tune = await trained(await createTune({ title: 'conformance-main', name: 'man' }));
});
after(async () => {
  await ext.close();
  await live.close();
});

const urls = (n: number) => Array.from({ length: n }, (_, i) => `${ext.base}/img/${i}.jpg`);

async function createTune(fields: Json, c = call): Promise<Json> {
  const r = await c('POST', '/tunes', { json: { tune: { branch: 'fast', image_urls: urls(4), ...fields } } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function trained(t: Json, c = call): Promise<Json> {
  return until(async () => {
    const r = (await c('GET', `/tunes/${t.id}`)).json;
    return r.trained_at ? r : null;
  }, `tune ${t.id} trained`);
}

async function finished(promptId: number, c = call): Promise<Json> {
  return until(async () => {
    const p = (await c('GET', `/prompts/${promptId}`)).json;
    return p.status === 'completed' || p.status === 'failed' ? p : null;
  }, `prompt ${promptId} finished`);
}

async function prompt(fields: Json, tuneId = tune.id, c = call): Promise<Json> {
  const r = await c('POST', `/tunes/${tuneId}/prompts`, { json: { prompt: { num_images: 1, ...fields } } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const isJson = (r: Answer) => /^application\/json/.test(r.headers.get('content-type') ?? '');

// ---------------------------------------------------------------------------------------------------------------
// Transport, auth, routing

test('CLIENTS.md #1: Bearer auth with any header-name and scheme case; 401 JSON with error for missing or bad keys', async () => {
  for (const [name, scheme] of [
    ['authorization', 'Bearer'],
    ['Authorization', 'bearer'],
    ['AUTHORIZATION', 'BEARER'],
  ]) {
    const r = await call('GET', '/tunes', {
      key: null,
      headers: { [name]: `${scheme} ${live.h.keyCompat}` },
    });
    assert.equal(r.status, 200, `${name}: ${scheme}`);
  }
  const bad: Record<string, string>[] = [
    {},
    { authorization: 'Bearer nope' },
    { authorization: live.h.keyCompat },
  ];
  for (const headers of bad) {
    const r = await call('GET', '/tunes', { key: null, headers });
    assert.equal(r.status, 401);
    assert.ok(isJson(r));
    assert.equal(typeof (r.json.error ?? r.json.message), 'string');
  }
});

test('CLIENTS.md #2: every answer is JSON whatever Accept says', async () => {
  for (const accept of ['application/json', '*/*', 'text/html']) {
    for (const [path, key] of [
      ['/tunes', undefined],
      ['/tunes/999999', undefined],
      ['/no/such/route', undefined],
      ['/tunes', null],
    ] as const) {
      const r = await call('GET', path, { key, headers: { accept } });
      assert.ok(isJson(r), `${path} with Accept ${accept}: ${r.headers.get('content-type')}`);
      assert.ok(r.json !== undefined);
    }
  }
});

test('CLIENTS.md #3: resource paths with or without .json (prompts, tunes, packs)', async () => {
  const p = await prompt({ text: 'ohwx man, .json check' });
  for (const [a, b] of [
    [`/prompts/${p.id}`, `/prompts/${p.id}.json`],
    [`/tunes/${tune.id}`, `/tunes/${tune.id}.json`],
    ['/p/professional-headshots', '/p/professional-headshots.json'],
  ]) {
    const [ra, rb] = [await call('GET', a), await call('GET', b)];
    assert.equal(ra.status, 200, a);
    assert.equal(rb.status, 200, b);
    assert.equal(rb.json.id, ra.json.id);
  }
});

test('CLIENTS.md #4: a trailing slash routes like no slash', async () => {
  const [a, b] = [await call('GET', '/tunes'), await call('GET', '/tunes/')];
  assert.equal(b.status, 200);
  assert.deepEqual(
    b.json.map((t: Json) => t.id),
    a.json.map((t: Json) => t.id),
  );
});

test('CLIENTS.md #5: doubled slashes collapse', async () => {
  const r = await call('GET', `//tunes/${tune.id}//prompts`);
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json));
});

test('CLIENTS.md #6: unknown query parameters and body fields are ignored', async () => {
  const q = await call('GET', '/tunes?page=1&per_page=5&expand[]=x&style=y&preset=z');
  assert.equal(q.status, 200);
  const t = await call('POST', '/tunes', {
    json: {
      tune: {
        title: 'unknown-fields',
        name: 'man',
        branch: 'fast',
        image_urls: urls(4),
        preset: 'flux-lora-portrait',
      },
      unknown_top: 1,
    },
  });
  assert.equal(t.status, 201, t.text);
  const p = await call('POST', `/tunes/${tune.id}/prompts`, {
    json: {
      prompt: {
        text: 'ohwx man',
        num_images: 1,
        expand: ['x'],
        page: 2,
        something_new: true,
        style: 'Photographic',
        film_grain: true,
        controlnet_conditioning_scale: 0.5,
        scheduler: 'euler_a',
      },
    },
  });
  assert.equal(p.status, 201, p.text);
});

test('CLIENTS.md #7: POST /tunes answers before image_urls are downloaded', async () => {
  // The image host holds its answer until released: the create must come back while the download still waits.
  const r = await call('POST', '/tunes', {
    json: {
      tune: {
        title: 'async-download',
        name: 'man',
        branch: 'fast',
        image_urls: urls(3).concat(`${ext.base}/hang`),
      },
    },
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.trained_at, null);
  await until(() => ext.hangSeen() > 0, 'the train job to reach the held image');
  assert.equal((await call('GET', `/tunes/${r.json.id}`)).json.trained_at, null, 'still downloading');
  ext.release();
  await trained(r.json);
});

// ---------------------------------------------------------------------------------------------------------------
// Request body parsing

test('CLIENTS.md #8: POST /tunes as JSON, multipart with bracketed keys, and form-urlencoded', async () => {
  const j = await createTune({ title: 'enc-json', name: 'woman', steps: 500, face_crop: true });
  assert.equal(j.name, 'woman');
  const img = await photo();
  const m = await call('POST', '/tunes', {
    multipart: [
      ['tune[title]', 'enc-multipart'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[model_type]', 'lora'],
      ['tune[token]', 'sks'],
      ['tune[steps]', '400'],
      ['tune[face_crop]', 'true'],
      ['tune[training_face_correct]', 'false'],
      ['tune[callback]', `${ext.base}/cb/enc`],
      ...[0, 1, 2, 3].map((): [string, { data: Buffer }] => ['tune[images][]', { data: img }]),
    ],
  });
  assert.equal(m.status, 201, m.text);
  assert.deepEqual(
    [m.json.title, m.json.token, m.json.steps, m.json.face_crop],
    ['enc-multipart', 'sks', 400, true],
  );
  const f = await call('POST', '/tunes', {
    form: [
      ['tune[title]', 'enc-form'],
      ['tune[name]', 'dog'],
      ['tune[branch]', 'fast'],
      ['tune[steps]', '600'],
      ...urls(4).map((u): [string, string] => ['tune[image_urls][]', u]),
    ],
  });
  assert.equal(f.status, 201, f.text);
  assert.deepEqual([f.json.name, f.json.steps], ['dog', 600]);
});

test('CLIENTS.md #9: images as files (any name, any or no type), URL parts, URL file parts, JSON image_urls, mixed', async () => {
  const img = await photo();
  const r = await call('POST', '/tunes', {
    multipart: [
      ['tune[title]', 'image-forms'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[images][]', { data: img, filename: 'me.jpg', type: 'image/jpeg' }],
      ['tune[images][]', { data: img, filename: 'upload', type: 'application/octet-stream' }],
      ['tune[images][]', { data: img, filename: 'tune[images][]' }],
      ['tune[image_urls][]', `${ext.base}/img/1.jpg`],
      [
        'tune[image_urls][]',
        { data: Buffer.from(`${ext.base}/img/2.jpg`), filename: 'blob', type: 'text/plain' },
      ],
    ],
  });
  assert.equal(r.status, 201, r.text);
  assert.equal((await trained(r.json)).orig_images.length, 5);
  const j = await createTune({ title: 'image-urls-json', name: 'man', image_urls: urls(4) });
  assert.equal((await trained(j)).orig_images.length, 4);
});

test('CLIENTS.md #10: multipart prompts_attributes[] become ordered prompts; the JSON form too', async () => {
  const img = await photo();
  const m = await call('POST', '/tunes', {
    multipart: [
      ['tune[title]', 'pa-multipart'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[prompts_attributes][][text]', 'ohwx man first'],
      ['tune[prompts_attributes][][num_images]', '1'],
      ['tune[prompts_attributes][][callback]', `${ext.base}/cb/pa1`],
      ['tune[prompts_attributes][][text]', 'ohwx man second'],
      ['tune[prompts_attributes][][super_resolution]', 'true'],
      ['tune[prompts_attributes][][inpaint_faces]', 'true'],
      ['tune[prompts_attributes][][num_images]', '2'],
      ...[0, 1, 2, 3].map((): [string, { data: Buffer }] => ['tune[images][]', { data: img }]),
    ],
  });
  assert.equal(m.status, 201, m.text);
  await trained(m.json);
  const list = await until(async () => {
    const l = (await call('GET', `/tunes/${m.json.id}/prompts`)).json;
    return l.length === 2 ? l : null;
  }, 'two prompts');
  const oldestFirst = [...list].reverse();
  assert.deepEqual(
    oldestFirst.map((p: Json) => [p.text, p.num_images, p.callback]),
    [
      ['ohwx man first', 1, `${ext.base}/cb/pa1`],
      ['ohwx man second', 2, null],
    ],
  );
  assert.equal(oldestFirst[1].super_resolution, true);
  const j = await createTune({
    title: 'pa-json',
    name: 'man',
    prompts_attributes: [{ text: 'ohwx man json', callback: `${ext.base}/cb/paj`, num_images: 1 }],
  });
  await trained(j);
  const jl = await until(async () => {
    const l = (await call('GET', `/tunes/${j.id}/prompts`)).json;
    return l.length === 1 ? l : null;
  }, 'one prompt');
  assert.equal(jl[0].text, 'ohwx man json');
});

test('CLIENTS.md #11: characteristics as a JSON object, nested multipart keys, or a JSON-encoded string', async () => {
  const img = await photo();
  const files = [0, 1, 2, 3].map((): [string, { data: Buffer }] => ['tune[images][]', { data: img }]);
  const a = await createTune({ title: 'ch-json', name: 'man', characteristics: { eye_color: 'blue eyes' } });
  const b = await call('POST', '/tunes', {
    multipart: [
      ['tune[title]', 'ch-nested'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[characteristics][eye_color]', 'blue eyes'],
      ...files,
    ],
  });
  const c = await call('POST', '/tunes', {
    multipart: [
      ['tune[title]', 'ch-string'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[characteristics]', '{"eye_color":"blue eyes"}'],
      ...files,
    ],
  });
  for (const t of [a, b.json, c.json])
    assert.deepEqual(t.characteristics, { eye_color: 'blue eyes' }, t.title);
  // `{{eye_color}}` is filled from them when the prompt runs: the generator gets the filled text
  const p = await prompt({ text: 'ohwx man with {{eye_color}}' }, (await trained(c.json)).id);
  const done = await finished(p.id);
  assert.equal(done.status, 'completed');
  const row = await (await import('../../src/store/prompts.ts')).getPrompt(live.h.rt.svc.db, p.id);
  assert.match(JSON.parse(row?.resolved ?? '{}').text_resolved, /with blue eyes/);
});

test('CLIENTS.md #12: booleans and numbers sent as strings are coerced', async () => {
  const m = await call('POST', `/tunes/${tune.id}/prompts`, {
    multipart: [
      ['prompt[text]', 'ohwx man'],
      ['prompt[num_images]', '2'],
      ['prompt[super_resolution]', 'True'],
      ['prompt[face_correct]', '0'],
      ['prompt[w]', '512'],
      ['prompt[h]', '640'],
    ],
  });
  assert.equal(m.status, 201, m.text);
  assert.deepEqual(
    [m.json.num_images, m.json.super_resolution, m.json.face_correct, m.json.w, m.json.h],
    [2, true, false, 512, 640],
  );
  const j = await call('POST', `/tunes/${tune.id}/prompts`, {
    json: { prompt: { text: 'ohwx man', num_images: '1', face_correct: 'true', cfg_scale: '7' } },
  });
  assert.equal(j.status, 201, j.text);
  assert.deepEqual([j.json.num_images, j.json.face_correct, j.json.cfg_scale], [1, true, 7]);
  const t = await createTune({
    title: 'coerce-tune',
    name: 'man',
    steps: '400',
    training_face_correct: 'True',
  });
  assert.equal(t.steps, 400);
  assert.equal(t.training_face_correct, true);
});

test('CLIENTS.md #13: empty strings mean "not given"', async () => {
  const t = await call('POST', '/tunes', {
    form: [
      ['tune[title]', 'blank-branch'],
      ['tune[name]', 'man'],
      ['tune[branch]', ''],
      ['tune[token]', ''],
      ['tune[callback]', ''],
      ...urls(4).map((u): [string, string] => ['tune[image_urls][]', u]),
    ],
  });
  assert.equal(t.status, 201, t.text);
  assert.deepEqual([t.json.branch, t.json.token, t.json.callback], ['fast', 'ohwx', null]);
  const p = await call('POST', `/tunes/${tune.id}/prompts`, {
    form: [
      ['prompt[text]', 'ohwx man'],
      ['prompt[callback]', ''],
      ['prompt[seed]', ''],
      ['prompt[num_images]', '1'],
    ],
  });
  assert.equal(p.status, 201, p.text);
  assert.equal(p.json.callback, null);
});

test('CLIENTS.md #14: POST /tunes/:id/prompts as multipart (with input/mask files), form-urlencoded and JSON', async () => {
  const img = await photo(64, 64);
  const m = await call('POST', `/tunes/${tune.id}/prompts`, {
    multipart: [
      ['prompt[text]', 'ohwx man img2img'],
      ['prompt[num_images]', '1'],
      ['prompt[input_image]', { data: img, filename: 'upload' }],
      ['prompt[mask_image]', { data: img, filename: 'prompt[mask_image]', type: 'application/octet-stream' }],
    ],
  });
  assert.equal(m.status, 201, m.text);
  const f = await call('POST', `/tunes/${tune.id}/prompts`, {
    form: [
      ['prompt[text]', 'ohwx man form'],
      ['prompt[num_images]', '1'],
    ],
  });
  assert.equal(f.status, 201, f.text);
  const j = await call('POST', `/tunes/${tune.id}/prompts`, {
    json: { prompt: { text: 'ohwx man json', num_images: 1 } },
  });
  assert.equal(j.status, 201, j.text);
  assert.deepEqual(
    [m.json.text, f.json.text, j.json.text],
    ['ohwx man img2img', 'ohwx man form', 'ohwx man json'],
  );
});

test('CLIENTS.md #15: every listed prompt field is accepted', async () => {
  const r = await call('POST', `/tunes/${tune.id}/prompts`, {
    json: {
      prompt: {
        text: 'ohwx man, all fields',
        num_images: 1,
        seed: 7,
        callback: `${ext.base}/cb/fields`,
        negative_prompt: 'blurry',
        steps: 20,
        cfg_scale: 6,
        w: 512,
        h: 512,
        aspect_ratio: '1:1',
        resolution: '1024x1024',
        super_resolution: true,
        inpaint_faces: true,
        face_correct: true,
        face_swap: true,
        input_image_url: `${ext.base}/img/9.jpg`,
        mask_image_url: `${ext.base}/img/8.jpg`,
        controlnet_conditioning_scale: 0.6,
        style: 'Cinematic',
        pack_id: 260,
        base_pack_id: 43,
      },
    },
  });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.json.seed, r.json.negative_prompt, r.json.style], [7, 'blurry', 'Cinematic']);
  assert.equal((await finished(r.json.id)).status, 'completed');
});

// ---------------------------------------------------------------------------------------------------------------
// Tunes

test('CLIENTS.md #16: tune creation answers 201, from /tunes and from /p/<slug>/tunes', async () => {
  const t = await call('POST', '/tunes', {
    json: { tune: { title: 'created-201', name: 'man', branch: 'fast', image_urls: urls(4) } },
  });
  assert.equal(t.status, 201);
  const p = await call('POST', '/p/professional-headshots/tunes', {
    json: { tune: { title: 'pack-201', name: 'man', branch: 'fast', image_urls: urls(4) } },
  });
  assert.equal(p.status, 201, p.text);
});

test('CLIENTS.md #17: the tune object: integer id, the listed keys, trained_at null until trained then ISO-8601', async () => {
  const t = await createTune({ title: 'tune-object', name: 'man' });
  assert.ok(Number.isInteger(t.id));
  for (const k of [
    'title',
    'name',
    'token',
    'model_type',
    'base_tune_id',
    'branch',
    'trained_at',
    'created_at',
    'updated_at',
    'eta',
    'orig_images',
    'url',
    'callback',
    'ckpt_url',
    'ckpt_urls',
  ])
    assert.ok(k in t, k);
  assert.ok(Array.isArray(t.orig_images));
  assert.equal(t.trained_at, null);
  const done = await trained(t);
  assert.match(done.trained_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
});

test('CLIENTS.md #18: GET /tunes/<id> serves the same object, with status and error_message', async () => {
  const t = await createTune({ title: 'same-object', name: 'man' });
  const g = (await call('GET', `/tunes/${t.id}`)).json;
  assert.deepEqual(Object.keys(g).sort(), Object.keys(t).sort());
  assert.equal(g.id, t.id);
  assert.ok('status' in g && 'error_message' in g);
  const failed = await createTune({
    title: 'fails',
    name: 'man',
    image_urls: [...urls(3), `${ext.base}/missing`],
  });
  const f = await until(async () => {
    const x = (await call('GET', `/tunes/${failed.id}`)).json;
    return x.status === 'failed' ? x : null;
  }, 'tune failed');
  assert.match(f.error_message, /404/);
  assert.equal(f.trained_at, null);
});

test('CLIENTS.md #19: GET /tunes is an array, newest first, pages of 20, offset/limit, filters, [] past the end', async () => {
  const c = caller(
    live.baseUrl,
    (
      await import('../../src/domain/keys.ts').then((m) =>
        m.createApiKey(live.h.rt.svc.db, { account: 'lister' }),
      )
    ).key,
  );
  const ids: number[] = [];
  for (let i = 0; i < 22; i++)
    ids.push((await createTune({ title: `list-${i}`, name: i % 2 ? 'man' : 'woman' }, c)).id);
  const first = (await c('GET', '/tunes')).json;
  assert.ok(Array.isArray(first));
  assert.equal(first.length, 20);
  assert.deepEqual(
    first.map((t: Json) => t.id),
    [...ids].reverse().slice(0, 20),
  );
  assert.deepEqual(
    (await c('GET', '/tunes?offset=20')).json.map((t: Json) => t.id),
    [ids[1], ids[0]],
  );
  assert.equal((await c('GET', '/tunes?limit=5')).json.length, 5);
  assert.deepEqual((await c('GET', '/tunes?offset=40')).json, []);
  assert.deepEqual(
    (await c('GET', '/tunes?title=list-3')).json.map((t: Json) => t.id),
    [ids[3]],
  );
  assert.equal((await c('GET', '/tunes?name[]=man&limit=100')).json.length, 11);
  assert.equal((await c('GET', '/tunes?model_type=lora&branch=fast&limit=100')).json.length, 22);
  assert.deepEqual((await c('GET', '/tunes?branch=sdxl1')).json, []);
});

test('CLIENTS.md #20: branch=fast trains and generates within seconds, placeholder images, callbacks fired; a missing branch follows the base tune', async () => {
  const cb = `${ext.base}/cb/fast-tune?x=1`;
  const t = await createTune({ title: 'fast-mode', name: 'man', callback: cb });
  await trained(t);
  const p = await prompt({ text: 'ohwx man fast', callback: `${ext.base}/cb/fast-prompt` }, t.id);
  const done = await finished(p.id);
  assert.equal(done.images.length, 1);
  await until(() => ext.got.some((g) => g.url === '/cb/fast-tune?x=1'), 'tune callback');
  await until(() => ext.got.some((g) => g.url === '/cb/fast-prompt'), 'prompt callback');
  const child = await call('POST', '/tunes', {
    json: { tune: { title: 'inherits-branch', name: 'man', base_tune_id: 690204, image_urls: urls(4) } },
  });
  assert.equal(child.status, 201, child.text);
  assert.equal(child.json.branch, 'fast');
});

test('CLIENTS.md #21: the hard-coded base tune ids accept prompts', async () => {
  for (const id of BASE_TUNE_IDS) {
    const g = await call('GET', `/tunes/${id}`);
    assert.equal(g.status, 200, `${id}`);
    const p = await call('POST', `/tunes/${id}/prompts`, {
      json: { prompt: { text: 'a lighthouse at dusk', num_images: 1 } },
    });
    assert.equal(p.status, 201, `${id}: ${p.text}`);
    assert.equal(p.json.tune_id, id);
  }
});

test('CLIENTS.md #22: creating a tune with the same title again returns the existing tune', async () => {
  const a = await createTune({ title: 'retry-me', name: 'man' });
  const b = await call('POST', '/tunes', {
    json: { tune: { title: 'retry-me', name: 'man', branch: 'fast', image_urls: urls(4) } },
  });
  assert.ok(b.status === 200 || b.status === 201);
  assert.equal(b.json.id, a.id);
});

test('CLIENTS.md #23: DELETE /tunes/<id> and PATCH /tunes/<id> (multipart title, name, characteristics)', async () => {
  const t = await createTune({ title: 'to-patch', name: 'man' });
  const p = await call('PATCH', `/tunes/${t.id}`, {
    multipart: [
      ['tune[title]', 'patched'],
      ['tune[name]', 'woman'],
      ['tune[characteristics]', '{"hair":"short"}'],
    ],
  });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(
    [p.json.title, p.json.name, p.json.characteristics],
    ['patched', 'woman', { hair: 'short' }],
  );
  const d = await call('DELETE', `/tunes/${t.id}`);
  assert.equal(d.status, 200);
  assert.equal((await call('GET', `/tunes/${t.id}`)).status, 404);
});

// ---------------------------------------------------------------------------------------------------------------
// Prompts

test("CLIENTS.md #24: <lora:ID:w> and <faceid:ID:1> resolve to the user's tunes; prompts accepted on own, base and model tunes", async () => {
  const face = await trained(
    await createTune({ title: 'faceid-tune', name: 'man', model_type: 'faceid', image_urls: urls(1) }),
  );
  const ckpt = await trained(
    await createTune({ title: 'checkpoint-tune', name: 'man', model_type: 'checkpoint' }),
  );
  const own = await prompt({ text: 'ohwx man, ohwx man again, in a garden' });
  const onBase = await prompt(
    { text: `<lora:${tune.id}:0.8> ohwx man <faceid:${face.id}:1> on a boat` },
    690204,
  );
  const onModel = await prompt({ text: 'ohwx man portrait' }, ckpt.id);
  for (const p of [own, onBase, onModel]) assert.equal((await finished(p.id)).status, 'completed');
  const other = await createTune({ title: 'not-yours', name: 'man' }, callB);
  const bad = await call('POST', '/tunes/690204/prompts', {
    json: { prompt: { text: `<lora:${other.id}:1> x` } },
  });
  assert.equal(bad.status, 422, "another account's tune does not resolve");
});

test('CLIENTS.md #25: the prompt object: integer id and the always-present keys, url shape', async () => {
  const p = await prompt({ text: 'ohwx man keys', callback: `${ext.base}/cb/keys?a=1` });
  assert.ok(Number.isInteger(p.id));
  for (const k of [
    'images',
    'seed',
    'text',
    'tune_id',
    'num_images',
    'callback',
    'user_error',
    'created_at',
    'updated_at',
    'trained_at',
    'url',
  ])
    assert.ok(k in p, k);
  assert.deepEqual(p.images, []);
  assert.equal(p.callback, `${ext.base}/cb/keys?a=1`);
  assert.equal(p.user_error, null);
  assert.equal(p.url, `${live.baseUrl}/tunes/${tune.id}/prompts/${p.id}.json`);
  for (const k of ['negative_prompt', 'aspect_ratio', 'resolution', 'pack_id', 'status'])
    assert.ok(k in p, k);
  const done = await finished(p.id);
  assert.ok(Number.isInteger(done.seed));
  assert.ok(done.trained_at);
});

test('CLIENTS.md #26: a prompt is served at /prompts/<id>(.json) and nested under its tune, its base tune, or a referenced tune', async () => {
  const child = await trained(
    await createTune({ title: 'child-of-base', name: 'man', base_tune_id: 690204 }),
  );
  const p = await prompt({ text: `ohwx man with <lora:${tune.id}:0.5>` }, child.id);
  for (const path of [
    `/prompts/${p.id}`,
    `/prompts/${p.id}.json`,
    `/tunes/${child.id}/prompts/${p.id}`,
    `/tunes/690204/prompts/${p.id}`,
    `/tunes/${tune.id}/prompts/${p.id}.json`,
  ]) {
    const r = await call('GET', path);
    assert.equal(r.status, 200, path);
    assert.equal(r.json.id, p.id);
  }
  assert.equal((await call('GET', `/tunes/1504944/prompts/${p.id}`)).status, 404);
});

test('CLIENTS.md #27: failure is signalled with a non-empty user_error and status failed', async () => {
  const p = await prompt({ text: 'ohwx man failing', input_image_url: `${ext.base}/missing` });
  const done = await finished(p.id);
  assert.equal(done.status, 'failed');
  assert.equal(typeof done.user_error, 'string');
  assert.ok(done.user_error.length > 0);
  assert.deepEqual(done.images, []);
});

test('CLIENTS.md #28: images only when complete, one per num_images, absolute, fetchable without a key, image extension, clean paths', async () => {
  const p = await prompt({ text: 'ohwx man three images', num_images: 3 });
  assert.deepEqual(p.images, []);
  const done = await finished(p.id);
  assert.equal(done.images.length, 3);
  for (const u of done.images) {
    assert.equal(typeof u, 'string');
    const url = new URL(u);
    assert.match(url.pathname, /\.(jpg|png|webp)$/);
    for (const bad of ['/prompts/', '.json', 'api.astria.ai'])
      assert.ok(!u.includes(bad), `${u} contains ${bad}`);
    const res = await fetch(u); // no Authorization header
    assert.equal(res.status, 200, u);
    assert.match(res.headers.get('content-type') ?? '', /^image\//);
    assert.ok((await res.arrayBuffer()).byteLength > 100);
  }
});

test('CLIENTS.md #29: GET /tunes/<id>/prompts and GET /prompts are arrays with offset/limit and the CLI filters', async () => {
  const t = await trained(await createTune({ title: 'prompt-lists', name: 'man' }));
  const made = [];
  for (let i = 0; i < 5; i++)
    made.push(await prompt({ text: `ohwx man list ${i} ${i === 3 ? 'aardvark' : ''}` }, t.id));
  const nested = (await call('GET', `/tunes/${t.id}/prompts`)).json;
  assert.deepEqual(
    nested.map((p: Json) => p.id),
    made.map((p) => p.id).reverse(),
  );
  assert.deepEqual(
    (await call('GET', `/tunes/${t.id}/prompts?offset=1&limit=2`)).json.map((p: Json) => p.id),
    [made[3].id, made[2].id],
  );
  assert.deepEqual(
    (await call('GET', `/prompts?tune_id=${t.id}&limit=3`)).json.map((p: Json) => p.id),
    [made[4].id, made[3].id, made[2].id],
  );
  assert.deepEqual(
    (await call('GET', '/prompts?text=aardvark')).json.map((p: Json) => p.id),
    [made[3].id],
  );
  await call('POST', `/prompts/${made[1].id}/likes`);
  assert.deepEqual(
    (await call('GET', `/prompts?liked=true&tune_id=${t.id}`)).json.map((p: Json) => p.id),
    [made[1].id],
  );
  assert.equal((await call('GET', '/prompts?today=true&is_api=true&order_id=1&is_video=false')).status, 200);
});

// ---------------------------------------------------------------------------------------------------------------
// Callbacks

test('CLIENTS.md #30: callbacks go to the URL exactly as given, query string included', async () => {
  const weird = `${ext.base}/cb/exact?user_id=1&&model_id=&webhook_secret=a%2Fb+c&x=%E2%9C%93`;
  const t = await createTune({ title: 'exact-url', name: 'man', callback: weird });
  await trained(t);
  const hit = await until(() => ext.got.find((g) => g.url.startsWith('/cb/exact')), 'callback');
  assert.equal(`${ext.base}${hit.url}`, weird);
});

test('CLIENTS.md #31: callback bodies are JSON wrapped by object type', async () => {
  const t = await createTune({ title: 'wrapped', name: 'man', callback: `${ext.base}/cb/wrap-tune` });
  await trained(t);
  const p = await prompt({ text: 'ohwx man wrapped', callback: `${ext.base}/cb/wrap-prompt` }, t.id);
  const th = await until(() => ext.got.find((g) => g.url === '/cb/wrap-tune'), 'tune callback');
  const ph = await until(() => ext.got.find((g) => g.url === '/cb/wrap-prompt'), 'prompt callback');
  for (const h of [th, ph]) assert.match(String(h.headers['content-type']), /^application\/json/);
  assert.equal(JSON.parse(th.body).tune.id, t.id);
  const body = JSON.parse(ph.body).prompt;
  assert.equal(body.id, p.id);
  assert.equal(body.tune_id, t.id);
  assert.ok(Array.isArray(body.images) && body.images.every((u: unknown) => typeof u === 'string'));
});

test("CLIENTS.md #32: tune callback once trained (trained_at set), then each pack/prompts_attributes prompt callback once; a posted prompt's once", async () => {
  const r = await call('POST', '/tunes', {
    json: {
      tune: {
        title: 'callback-order',
        name: 'man',
        branch: 'fast',
        image_urls: urls(4),
        callback: `${ext.base}/cb/order-tune`,
        prompts_attributes: [
          { text: 'ohwx man one', num_images: 1, callback: `${ext.base}/cb/order-p1` },
          { text: 'ohwx man two', num_images: 1, callback: `${ext.base}/cb/order-p2` },
        ],
      },
    },
  });
  assert.equal(r.status, 201, r.text);
  const pack = await call('POST', '/p/natural-light-portraits/tunes', {
    json: {
      tune: { title: 'callback-pack', name: 'dog', branch: 'fast', image_urls: urls(4) },
      prompt_attributes: { num_images: 1, callback: `${ext.base}/cb/order-pack` },
    },
  });
  assert.equal(pack.status, 201, pack.text);
  await until(() => ext.got.filter((g) => g.url.startsWith('/cb/order-p')).length >= 2, 'prompt callbacks');
  await until(() => ext.got.filter((g) => g.url === '/cb/order-pack').length >= 2, 'pack prompt callbacks');
  const tuneHits = ext.got.filter((g) => g.url === '/cb/order-tune');
  assert.equal(tuneHits.length, 1);
  assert.ok(JSON.parse(tuneHits[0].body).tune.trained_at);
  const firstPrompt = ext.got.findIndex((g) => g.url.startsWith('/cb/order-p'));
  assert.ok(ext.got.indexOf(tuneHits[0]) < firstPrompt, 'tune callback before its prompts');
  const t = await trained(r.json);
  const single = await prompt({ text: 'ohwx man once', callback: `${ext.base}/cb/order-once` }, t.id);
  await finished(single.id);
  await until(() => ext.got.some((g) => g.url === '/cb/order-once'), 'posted prompt callback');
  const log = (await call('GET', '/webhook_deliveries?limit=120')).json;
  for (const suffix of ['order-p1', 'order-p2', 'order-once'])
    assert.equal(log.filter((d: Json) => d.url.endsWith(suffix)).length, 1, suffix);
  assert.equal(log.filter((d: Json) => d.url.endsWith('order-pack')).length, 2);
});

test('CLIENTS.md #33: an unreachable callback fails neither the tune nor the prompt', async () => {
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const dead = `http://127.0.0.1:${port}/gone`;
  const t = await trained(await createTune({ title: 'dead-callback', name: 'man', callback: dead }));
  assert.equal(t.status, 'trained');
  const p = await prompt({ text: 'ohwx man dead cb', callback: dead }, t.id);
  assert.equal((await finished(p.id)).status, 'completed');
  const other = await prompt({ text: 'ohwx man unaffected' }, t.id);
  assert.equal((await finished(other.id)).status, 'completed');
});

// ---------------------------------------------------------------------------------------------------------------
// Packs

test('CLIENTS.md #34: GET /packs and GET /gallery/packs are arrays of {id, slug, title, cover_url, …}, also when empty', async () => {
  const mine = await callB('GET', '/packs');
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.json, []);
  const gallery = await call('GET', '/gallery/packs');
  assert.ok(Array.isArray(gallery.json) && gallery.json.length >= 1);
  for (const p of gallery.json) {
    for (const k of [
      'id',
      'slug',
      'title',
      'cover_url',
      'base_tune_id',
      'token',
      'model_type',
      'subtitle',
      'main_class_name',
      'costs',
      'cost_mc_hash',
    ])
      assert.ok(k in p, k);
    assert.ok(Number.isInteger(p.id));
  }
  const empty = await liveServer();
  try {
    const r = await caller(empty.baseUrl, empty.h.keyA)('GET', '/gallery/packs');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, []);
  } finally {
    await empty.close();
  }
});

test('CLIENTS.md #35: POST /p/<slug-or-id>/tunes: JSON and multipart, prompt_attributes object, tune_ids[], prompt_ids[]', async () => {
  const pack = (await call('GET', '/p/professional-headshots')).json;
  const multi = await call('POST', `/p/${pack.id}/tunes`, {
    multipart: [
      ['tune[title]', 'pack-mp'],
      ['tune[name]', 'woman'],
      ['tune[branch]', 'fast'],
      ['tune[callback]', `${ext.base}/cb/pack-tune`],
      ['tune[characteristics][short_description]', 'long dark hair'],
      ['tune[prompt_attributes][callback]', `${ext.base}/cb/pack-prompt`],
      ['tune[prompt_attributes][num_images]', '1'],
      ...urls(4).map((u): [string, string] => ['tune[image_urls][]', u]),
    ],
  });
  assert.equal(multi.status, 201, multi.text);
  assert.ok(Number.isInteger(multi.json.id));
  const prompts = (await call('GET', `/tunes/${multi.json.id}/prompts`)).json;
  assert.equal(prompts.length, pack.prompts_per_class.woman.length);
  for (const p of prompts) assert.deepEqual([p.num_images, p.callback], [1, `${ext.base}/cb/pack-prompt`]);
  const subset = await call('POST', '/p/professional-headshots/tunes', {
    json: {
      tune: { title: 'pack-subset', name: 'man', branch: 'fast', image_urls: urls(4) },
      prompt_ids: [pack.prompts_per_class.man[1].id],
      prompt_attributes: { num_images: 2 },
    },
  });
  assert.equal(subset.status, 201, subset.text);
  const sp = (await call('GET', `/tunes/${subset.json.id}/prompts`)).json;
  assert.deepEqual(
    sp.map((p: Json) => [p.text, p.num_images]),
    [[pack.prompts_per_class.man[1].text, 2]],
  );
  const reuse = await call('POST', '/p/professional-headshots/tunes', {
    json: {
      tune_ids: [tune.id],
      prompt_ids: [pack.prompts_per_class.man[0].id],
      prompt_attributes: { num_images: 1 },
    },
  });
  assert.equal(reuse.status, 201, reuse.text);
  assert.equal(reuse.json.id, tune.id, 'no new tune was trained');
});

test('CLIENTS.md #36: GET /p/<slug>.json and POST /packs with {pack:{title, base_tune_id, model_type}}', async () => {
  const g = await call('GET', '/p/natural-light-portraits.json');
  assert.equal(g.status, 200);
  assert.equal(g.json.slug, 'natural-light-portraits');
  const c = await call('POST', '/packs', {
    json: { pack: { title: 'CLI pack', base_tune_id: 690204, model_type: 'lora' } },
  });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual([c.json.title, c.json.base_tune_id, c.json.model_type], ['CLI pack', 690204, 'lora']);
  assert.ok((await call('GET', '/packs')).json.some((p: Json) => p.id === c.json.id));
});

// ---------------------------------------------------------------------------------------------------------------
// Misc endpoints

test('CLIENTS.md #37: POST /images/inspect with name + file or file_url; only measured keys, never invented ones', async () => {
  const r = await call('POST', '/images/inspect', {
    multipart: [
      ['name', 'man'],
      ['file', { data: await photo(640, 640), filename: 'upload' }],
    ],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'man');
  assert.equal(typeof r.json.blurry, 'boolean');
  assert.equal(r.json.blurry, true, 'a flat colour has no edges at all');
  // The booleans the face detector measures are there (no face in a flat image); the ones nothing installed can
  // measure (accessories, expression, attributes) are left out rather than guessed.
  for (const k of ['selfie', 'includes_multiple_people', 'full_body_image_or_longshot'])
    assert.equal(r.json[k], false, k);
  for (const k of ['wearing_sunglasses', 'wearing_hat', 'funny_face', 'age', 'eye_color'])
    assert.equal(k in r.json, false, k);
  const u = await call('POST', '/images/inspect', {
    json: { name: 'woman', file_url: `${ext.base}/img/1.jpg` },
  });
  assert.equal(u.status, 200, u.text);
  assert.equal(u.json.low_resolution, true, '64×64');
  // A real group photo (face-api's demo sample 5: five people on stairs)
  const { createRequire } = await import('node:module');
  const { readFileSync } = await import('node:fs');
  const pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  const group = readFileSync(new URL('demo/sample5.jpg', `file://${pkg}`));
  const g = await call('POST', '/images/inspect', {
    multipart: [
      ['name', 'man'],
      ['file', { data: group, filename: 'sample5.jpg', type: 'image/jpeg' }],
    ],
  });
  assert.deepEqual([g.json.blurry, g.json.includes_multiple_people, g.json.selfie], [false, true, false]);
});

test('CLIENTS.md #38: GET /users is a JSON object with id, name, email, usd_balance_mc', async () => {
  const r = await call('GET', '/users');
  assert.equal(r.status, 200);
  assert.equal(Array.isArray(r.json), false);
  for (const k of ['id', 'name', 'email', 'usd_balance_mc']) assert.ok(k in r.json, k);
});

test('CLIENTS.md #39: GET /cli/models is 404, never 426', async () => {
  const r = await call('GET', '/cli/models');
  assert.equal(r.status, 404);
  assert.ok(isJson(r));
});

test('CLIENTS.md #40: X-Workspace-Id is accepted without error', async () => {
  for (const [m, path] of [
    ['GET', '/tunes'],
    ['GET', `/tunes/${tune.id}/prompts`],
    ['GET', '/users'],
  ]) {
    const r = await call(m, path, { headers: { 'X-Workspace-Id': 'ws_123' } });
    assert.equal(r.status, 200, path);
  }
  const p = await call('POST', `/tunes/${tune.id}/prompts`, {
    headers: { 'x-workspace-id': '42' },
    json: { prompt: { text: 'ohwx man ws', num_images: 1 } },
  });
  assert.equal(p.status, 201);
});
