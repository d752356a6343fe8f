// POST/GET/PATCH/DELETE /tunes in the three encodings, path tolerance, idempotency by title, characteristics in
// three forms, prompts_attributes (multipart and JSON) becoming prompts when training ends, and lists.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  completedPrompt,
  dataUrl,
  form,
  type Harness,
  harness,
  jpeg,
  multipart,
  trainedTune,
  waitFor,
} from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

const file = async () => ({ data: await jpeg(), filename: 'upload', type: 'application/octet-stream' });

test('multipart tune: bracket names, repeated file parts with generic names, sniffed format', async () => {
  const mp = await multipart([
    ['tune[title]', 'multipart tune'],
    ['tune[name]', 'woman'],
    ['tune[branch]', 'fast'],
    ['tune[steps]', '400'],
    ['tune[face_crop]', 'True'],
    ['tune[training_face_correct]', 'false'],
    ['tune[token]', 'sks'],
    ['tune[images][]', await file()],
    ['tune[images][]', { data: await jpeg(), filename: 'tune[images][]' }],
    ['tune[images][]', { data: await jpeg(), filename: 'me.jpg', type: 'image/jpeg' }],
    ['tune[images][]', await file()],
  ]);
  const res = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.equal(res.statusCode, 201, res.body);
  const t = res.json();
  assert.equal(t.steps, 400);
  assert.equal(t.face_crop, true);
  assert.equal(t.training_face_correct, false);
  assert.equal(t.token, 'sks');
  assert.equal(t.name, 'woman');
  assert.equal(t.orig_images.length, 4);
  const img = await h.app.inject({ method: 'GET', url: new URL(t.orig_images[0]).pathname });
  assert.equal(img.statusCode, 200);
  assert.equal(img.headers['content-type'], 'image/jpeg');
});

test('form-urlencoded tune with image_urls is accepted at once (downloads happen in the job)', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    ...form([
      ['tune[title]', 'urlencoded tune'],
      ['tune[name]', 'dog'],
      ['tune[branch]', ''],
      ['tune[image_urls][]', 'https://example.com/1.jpg'],
      ['tune[image_urls][]', 'https://example.com/2.jpg'],
      ['tune[image_urls][]', 'https://example.com/3.jpg'],
      ['tune[image_urls][]', 'https://example.com/4.jpg'],
    ]),
  });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().branch, 'fast');
});

test('same title from the same account returns the existing tune with 200; another account gets its own', async () => {
  const body = {
    tune: {
      title: 'idem',
      name: 'cat',
      branch: 'fast',
      images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()],
    },
  };
  const first = await h.req({ method: 'POST', url: '/tunes', payload: body });
  assert.equal(first.statusCode, 201);
  const again = await h.req({ method: 'POST', url: '/tunes', payload: body });
  assert.equal(again.statusCode, 200);
  assert.equal(again.json().id, first.json().id);
  const other = await h.req({ method: 'POST', url: '/tunes', payload: body, key: h.keyB });
  assert.equal(other.statusCode, 201);
  assert.notEqual(other.json().id, first.json().id);
});

test('.json suffix, trailing slash and doubled slashes reach the same routes', async () => {
  const t = await trainedTune(h);
  for (const url of [
    `/tunes/${t.id}`,
    `/tunes/${t.id}.json`,
    `/tunes/${t.id}/`,
    `//tunes/${t.id}`,
    `/tunes//${t.id}.json`,
  ]) {
    const r = await h.req({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.equal(r.json().id, t.id, url);
  }
  for (const url of ['/tunes/', '/tunes.json', '//tunes', '/tunes?page=2&per_page=5&expand[]=x']) {
    const r = await h.req({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.ok(Array.isArray(r.json()), url);
  }
  const p = await h.req({
    method: 'POST',
    url: `//tunes/${t.id}/prompts.json`,
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  assert.equal(p.statusCode, 201, p.body);
  for (const url of [
    `/prompts/${p.json().id}.json`,
    `/tunes/${t.id}/prompts/${p.json().id}.json`,
    `//tunes/${t.id}/prompts/`,
  ]) {
    assert.equal((await h.req({ method: 'GET', url })).statusCode, 200, url);
  }
});

test('characteristics as a JSON object, nested form keys, or a JSON string — used for {{key}}', async () => {
  const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
  const a = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: 'c-json', name: 'man', branch: 'fast', images, characteristics: { eye_color: 'green' } },
    },
  });
  assert.deepEqual(a.json().characteristics, { eye_color: 'green' });
  const mpNested = await multipart([
    ['tune[title]', 'c-nested'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[characteristics][eye_color]', 'blue'],
    ['tune[characteristics][hair]', 'red'],
    ...(await Promise.all(
      [0, 1, 2, 3].map(async () => ['tune[images][]', await file()] as [string, { data: Buffer }]),
    )),
  ]);
  const b = await h.req({ method: 'POST', url: '/tunes', ...mpNested });
  assert.equal(b.statusCode, 201, b.body);
  assert.deepEqual(b.json().characteristics, { eye_color: 'blue', hair: 'red' });
  const mpString = await multipart([
    ['tune[title]', 'c-string'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[characteristics]', '{"short_description":"tall man with a beard"}'],
    ...(await Promise.all(
      [0, 1, 2, 3].map(async () => ['tune[images][]', await file()] as [string, { data: Buffer }]),
    )),
  ]);
  const c = await h.req({ method: 'POST', url: '/tunes', ...mpString });
  assert.equal(c.statusCode, 201, c.body);
  assert.deepEqual(c.json().characteristics, { short_description: 'tall man with a beard' });
  const bad = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'c-bad', name: 'man', branch: 'fast', images, characteristics: '{not json' } },
  });
  assert.equal(bad.statusCode, 422);
  assert.ok(bad.json().errors.characteristics);

  // {{key}} is filled from the tune's characteristics in the text the generator gets.
  await waitFor(
    async () => (await h.req({ method: 'GET', url: `/tunes/${a.json().id}` })).json().trained_at,
    'trained',
  );
  const p = await h.req({
    method: 'POST',
    url: `/tunes/${a.json().id}/prompts`,
    payload: { prompt: { text: 'ohwx man with {{eye_color}} eyes', num_images: 1 } },
  });
  assert.equal(p.statusCode, 201, p.body);
  const done = await completedPrompt(h, `/prompts/${p.json().id}`);
  assert.equal(done.status, 'completed');
  const row = await h.rt.svc.db
    .selectFrom('prompts')
    .select('resolved')
    .where('id', '=', p.json().id)
    .executeTakeFirstOrThrow();
  assert.match(row.resolved!, /ohwx man with green eyes/);
});

test('prompts_attributes (multipart) become prompts when training ends, in order, with their own fields', async () => {
  const mp = await multipart([
    ['tune[title]', 'with prompts'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[prompts_attributes][][text]', 'ohwx man as an astronaut'],
    ['tune[prompts_attributes][][num_images]', '2'],
    ['tune[prompts_attributes][][super_resolution]', 'true'],
    ['tune[prompts_attributes][][inpaint_faces]', 'true'],
    ['tune[prompts_attributes][][text]', 'ohwx man as a chef'],
    ['tune[prompts_attributes][][num_images]', '1'],
    ...(await Promise.all(
      [0, 1, 2, 3].map(async () => ['tune[images][]', await file()] as [string, { data: Buffer }]),
    )),
  ]);
  const res = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.equal(res.statusCode, 201, res.body);
  const id = res.json().id;
  const prompts = await waitFor(async () => {
    const list = (await h.req({ method: 'GET', url: `/tunes/${id}/prompts` })).json();
    return list.length === 2 && list.every((p: { status: string }) => p.status === 'completed') ? list : null;
  }, 'two completed prompts');
  const [chef, astronaut] = prompts; // newest first
  assert.equal(astronaut.text, 'ohwx man as an astronaut');
  assert.equal(astronaut.images.length, 2);
  assert.equal(astronaut.inpaint_faces, true);
  assert.equal(chef.text, 'ohwx man as a chef');
  assert.equal(chef.images.length, 1);
});

test('prompts_attributes (JSON) are validated at create time', async () => {
  const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
  const bad = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'pa-bad',
        name: 'man',
        branch: 'fast',
        images,
        prompts_attributes: [{ text: 'no token here' }],
      },
    },
  });
  assert.equal(bad.statusCode, 422);
  assert.ok(bad.json().errors['prompts_attributes.0.text'], bad.body);
  const ok = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'pa-ok',
        name: 'man',
        branch: 'fast',
        images,
        prompts_attributes: [{ text: 'ohwx man', num_images: 1 }],
      },
    },
  });
  assert.equal(ok.statusCode, 201, ok.body);
  const list = await waitFor(async () => {
    const l = (await h.req({ method: 'GET', url: `/tunes/${ok.json().id}/prompts` })).json();
    return l.length === 1 && l[0].status === 'completed' ? l : null;
  }, 'prompt from prompts_attributes');
  assert.equal(list[0].images.length, 1);
});

test('PATCH updates title, name and characteristics (JSON and multipart); DELETE removes tune, prompts and files', async () => {
  const t = await trainedTune(h);
  const r1 = await h.req({
    method: 'PATCH',
    url: `/tunes/${t.id}`,
    payload: { tune: { title: 'renamed', characteristics: { a: 'b' } } },
  });
  assert.equal(r1.statusCode, 200, r1.body);
  assert.equal(r1.json().title, 'renamed');
  assert.deepEqual(r1.json().characteristics, { a: 'b' });
  const r2 = await h.req({
    method: 'PATCH',
    url: `/tunes/${t.id}.json`,
    ...(await multipart([['tune[name]', 'woman']])),
  });
  assert.equal(r2.json().name, 'woman');
  const bad = await h.req({ method: 'PATCH', url: `/tunes/${t.id}`, payload: { tune: { name: '' } } });
  assert.equal(bad.statusCode, 200); // "" = not given
  const p = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx woman', num_images: 1 } },
  });
  const done = await completedPrompt(h, `/prompts/${p.json().id}`);
  const imageUrl = new URL(done.images[0].url).pathname;
  assert.equal((await h.app.inject({ method: 'GET', url: imageUrl })).statusCode, 200);

  const del = await h.req({ method: 'DELETE', url: `/tunes/${t.id}` });
  assert.equal(del.statusCode, 200);
  assert.equal((await h.req({ method: 'GET', url: `/tunes/${t.id}` })).statusCode, 404);
  assert.equal((await h.req({ method: 'GET', url: `/prompts/${p.json().id}` })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'GET', url: imageUrl })).statusCode, 404);
  const blobs = await h.rt.svc.blobs.get(`tunes/${t.id}/images/0.jpg`);
  assert.equal(blobs, undefined);
});

test('lists: JSON arrays, newest first, limit (max 120), before_id, offset with a cap', async () => {
  const hh = await harness();
  try {
    const ids: number[] = [];
    const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
    for (let i = 0; i < 5; i++) {
      const r = await hh.req({
        method: 'POST',
        url: '/tunes',
        payload: { tune: { title: `L${i}`, name: 'man', branch: 'fast', images } },
      });
      ids.push(r.json().id);
    }
    const all = (await hh.req({ method: 'GET', url: '/tunes' })).json();
    assert.deepEqual(
      all.map((t: { id: number }) => t.id),
      [...ids].reverse(),
    );
    const two = (await hh.req({ method: 'GET', url: '/tunes?limit=2' })).json();
    assert.deepEqual(
      two.map((t: { id: number }) => t.id),
      [ids[4], ids[3]],
    );
    const next = (await hh.req({ method: 'GET', url: `/tunes?limit=2&before_id=${ids[3]}` })).json();
    assert.deepEqual(
      next.map((t: { id: number }) => t.id),
      [ids[2], ids[1]],
    );
    const off = (await hh.req({ method: 'GET', url: '/tunes?offset=4' })).json();
    assert.deepEqual(
      off.map((t: { id: number }) => t.id),
      [ids[0]],
    );
    assert.deepEqual((await hh.req({ method: 'GET', url: '/tunes?offset=50' })).json(), []);
    const tooFar = await hh.req({ method: 'GET', url: '/tunes?offset=201' });
    assert.equal(tooFar.statusCode, 400);
    assert.match(tooFar.json().error, /before_id/);
    assert.equal((await hh.req({ method: 'GET', url: '/prompts?offset=10001' })).statusCode, 400);
    assert.equal((await hh.req({ method: 'GET', url: '/prompts?offset=10000' })).statusCode, 200);
    assert.equal((await hh.req({ method: 'GET', url: '/tunes?limit=500' })).json().length, 5);
    assert.deepEqual(
      (await hh.req({ method: 'GET', url: '/tunes?title=L2' })).json().map((t: { id: number }) => t.id),
      [ids[2]],
    );
  } finally {
    await hh.close();
  }
});
