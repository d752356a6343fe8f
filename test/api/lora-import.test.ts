// LoRA import (ext) on the mock branch: a tune created from a LoRA .safetensors (multipart upload or lora_url via
// the guarded fetcher) is trained at creation, serves the file as ckpt_url and fires its callback; a file that is
// not a well-formed LoRA is a 422 naming the problem and stores nothing. The architecture check against a real base
// model is in test/e2e/lora-import.e2e.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixturePath } from '../helpers/fixtures.ts';
import {
  type Harness,
  harness,
  type Json,
  multipart,
  receiver,
  safetensorsBytes,
  waitFor,
} from './helpers.ts';

const LORA = readFileSync(fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors'));
const PEFT_LIKE = readFileSync(fixturePath('sd-reference', 'lora', 'lora_diffusers.safetensors'));
const MAX = 200_000; // ATELIER_LORA_MAX_BYTES of this harness: the fixture (142504 bytes) fits, BIG does not
const BIG = Buffer.concat([LORA, Buffer.alloc(MAX)]);

let h: Harness;
let server: Server;
let base: string;
before(async () => {
  h = await harness({ loraMaxBytes: MAX });
  server = createServer((req, res) => {
    const body = req.url === '/lora.safetensors' ? LORA : req.url === '/big.safetensors' ? BIG : null;
    if (body) res.end(body);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await h.close();
  await new Promise((r) => server.close(r));
});

let n = 0;
const title = () => `import-${++n}`;

async function upload(data: Buffer, extra: [string, string][] = [], key?: string) {
  const mp = await multipart([
    ['tune[title]', title()],
    ['tune[name]', 'style'],
    ['tune[branch]', 'fast'],
    ...extra,
    ['tune[lora_file]', { data, filename: 'my.safetensors' }],
  ]);
  return h.req({ method: 'POST', url: '/tunes', key, ...mp });
}

async function download(url: string): Promise<Buffer> {
  const u = new URL(url);
  const r = await h.app.inject({ method: 'GET', url: u.pathname });
  assert.equal(r.statusCode, 200, r.body);
  return r.rawPayload;
}

const tuneDirs = () => {
  const d = join(h.dir, 'blobs', 'tunes');
  return existsSync(d) ? readdirSync(d).sort() : [];
};

async function rejected(res: Awaited<ReturnType<typeof upload>>, field: string, pattern: RegExp) {
  assert.equal(res.statusCode, 422, res.body);
  const errors = res.json().errors as Record<string, string[]>;
  assert.ok(errors[field], `errors name ${field}: ${res.body}`);
  assert.match(errors[field].join(' '), pattern);
}

test('an uploaded LoRA makes a tune that is trained at creation; ckpt_url serves the same bytes', async () => {
  const rec = await receiver();
  try {
    const res = await upload(LORA, [['tune[callback]', `${rec.base}/cb`]]);
    assert.equal(res.statusCode, 201, res.body);
    const t = res.json() as Json;
    assert.equal(t.status, 'trained');
    assert.ok(t.trained_at, 'ready at once');
    assert.equal(t.model_type, 'lora');
    assert.equal(t.progress, 1);
    assert.deepEqual(t.orig_images, [], 'no training images');
    assert.match(t.ckpt_url, /\/tune-weights\/\d+\/\d+\/[\w-]+\.safetensors$/);
    assert.deepEqual(t.ckpt_urls, [t.ckpt_url]);
    assert.deepEqual(await download(t.ckpt_url), LORA);
    // the callback fires as for a trained tune
    await waitFor(async () => rec.got.length > 0 || null, 'tune callback');
    const body = JSON.parse(rec.got[0].body) as Json;
    assert.equal(body.tune.id, t.id);
    assert.equal(body.tune.status, 'trained');
    // the same title again is the idempotent answer (nothing is checked or stored twice)
    const again = await h.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: { title: t.title, name: 'style', branch: 'fast', lora_url: `${base}/lora.safetensors` },
      },
    });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().id, t.id);
  } finally {
    await rec.close();
  }
});

test('a forged or foreign ckpt_url is a 404', async () => {
  const t = (await upload(LORA)).json() as Json;
  const forged = new URL(t.ckpt_url).pathname.replace(
    /\/[\w-]+\.safetensors$/,
    '/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.safetensors',
  );
  assert.equal((await h.app.inject({ method: 'GET', url: forged })).statusCode, 404);
  const otherId = new URL(t.ckpt_url).pathname.replace(
    `/tune-weights/${t.id}/`,
    `/tune-weights/${t.id + 1000}/`,
  );
  assert.equal((await h.app.inject({ method: 'GET', url: otherId })).statusCode, 404);
});

test('lora_url (JSON) is downloaded through the guarded fetcher and checked the same way', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: title(), name: 'style', branch: 'fast', lora_url: `${base}/lora.safetensors` },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().status, 'trained');
  assert.deepEqual(await download(res.json().ckpt_url), LORA);
  // the other supported format is accepted as well
  const d = await upload(PEFT_LIKE);
  assert.equal(d.statusCode, 201, d.body);
});

test('lora_url failures are 422s on lora_url: HTTP error, over ATELIER_LORA_MAX_BYTES, refused target', async () => {
  const post = (lora_url: string) =>
    h.req({
      method: 'POST',
      url: '/tunes',
      payload: { tune: { title: title(), name: 'style', branch: 'fast', lora_url } },
    });
  await rejected(await post(`${base}/missing.safetensors`), 'lora_url', /HTTP 404/);
  await rejected(await post(`${base}/big.safetensors`), 'lora_url', /too large.*200000/);
  await rejected(await post('ftp://example.com/x.safetensors'), 'lora_url', /http\(s\) URL/);
});

test('an upload over ATELIER_LORA_MAX_BYTES is a 413 naming the part', async () => {
  const res = await upload(BIG);
  assert.equal(res.statusCode, 413, res.body);
  assert.match(res.body, /tune\[lora_file\] is larger than 200000 bytes/);
});

test('bad files are 422 with the reason, and nothing is stored', async () => {
  const before = tuneDirs();
  const count = (await h.req({ method: 'GET', url: '/tunes' })).json().length;
  // truncated inside the data section
  await rejected(await upload(LORA.subarray(0, LORA.length - 100)), 'lora_file', /beyond the data section/);
  // truncated inside the header
  await rejected(await upload(LORA.subarray(0, 50)), 'lora_file', /goes beyond the end of the file/);
  // not safetensors at all
  await rejected(await upload(Buffer.from('hello, this is not a model')), 'lora_file', /header/);
  // a safetensors file that is a model, not a LoRA
  const model = safetensorsBytes([{ name: 'conv_in.weight', shape: [4, 4, 3, 3] }]);
  await rejected(await upload(model), 'lora_file', /not a LoRA file/);
  // a LoRA layer whose up matrix is missing, or whose ranks disagree
  const down = 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight';
  const up = 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight';
  await rejected(
    await upload(safetensorsBytes([{ name: down, shape: [4, 32] }])),
    'lora_file',
    /has no .*lora_up/,
  );
  const ranks = safetensorsBytes([
    { name: down, shape: [4, 32] },
    { name: up, shape: [32, 8] },
  ]);
  await rejected(await upload(ranks), 'lora_file', /does not match the rank 4/);
  assert.deepEqual(tuneDirs(), before, 'no blobs were written');
  assert.equal((await h.req({ method: 'GET', url: '/tunes' })).json().length, count, 'no tune rows');
});

test('training-only fields, a second source, or another model_type are refused by name', async () => {
  await rejected(await upload(LORA, [['tune[steps]', '100']]), 'steps', /not used when importing/);
  await rejected(await upload(LORA, [['tune[image_urls][]', `${base}/x.png`]]), 'image_urls', /not used/);
  await rejected(await upload(LORA, [['tune[model_type]', 'faceid']]), 'model_type', /must be lora/);
  await rejected(
    await upload(LORA, [['tune[lora_url]', `${base}/lora.safetensors`]]),
    'lora_url',
    /not both/,
  );
  const json = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: title(), name: 'style', branch: 'fast', lora_file: 'AAAA' } },
  });
  await rejected(json, 'lora_file', /multipart file upload/);
});

test("ownership: another account cannot see an imported tune, or import onto someone else's tune", async () => {
  const t = (await upload(LORA)).json() as Json;
  assert.equal((await h.req({ method: 'GET', url: `/tunes/${t.id}`, key: h.keyB })).statusCode, 404);
  const res = await upload(LORA, [['tune[base_tune_id]', String(t.id)]], h.keyB);
  await rejected(res, 'base_tune_id', /not found/);
  // the owner may stack on it
  assert.equal((await upload(LORA, [['tune[base_tune_id]', String(t.id)]])).statusCode, 201);
});

test('prompts_attributes of an imported tune become prompts at once', async () => {
  const res = await upload(LORA, [['tune[prompts_attributes][][text]', 'a painting of ohwx style']]);
  assert.equal(res.statusCode, 201, res.body);
  const prompts = await waitFor(async () => {
    const list = (await h.req({ method: 'GET', url: `/tunes/${res.json().id}/prompts` })).json() as Json[];
    return list.length ? list : null;
  }, 'the prompt of prompts_attributes');
  assert.equal(prompts[0].text, 'a painting of ohwx style');
});
