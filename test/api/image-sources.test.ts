// Training and input images from every source: multipart files, data URLs, image_urls (JSON, form text parts and
// file parts whose body is the URL), input_image files, input_image_url and input_image_base64.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  jpeg,
  multipart,
  trainedTune,
  waitFor,
} from './helpers.ts';

let h: Harness;
let server: Server;
let base: string;
const hits: string[] = [];
before(async () => {
  h = await harness();
  const png = await sharp({ create: { width: 48, height: 32, channels: 3, background: '#08f' } })
    .png()
    .toBuffer();
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url?.startsWith('/img/')) {
      res.setHeader('content-type', 'application/octet-stream'); // the format is sniffed, not trusted
      res.end(png);
    } else {
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

test('a mix of files, a data URL and image_urls (text and file parts) makes one tune; URLs are fetched in the job', async () => {
  const mp = await multipart([
    ['tune[title]', 'mixed'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[images][]', { data: await jpeg() }],
    ['tune[images][]', await dataUrl()],
    ['tune[image_urls][]', `${base}/img/1.png`],
    ['tune[image_urls][]', { data: Buffer.from(`${base}/img/2.png`), filename: 'tune[image_urls][]' }],
  ]);
  const r = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal(r.json().orig_images.length, 2, 'uploads stored at once, URLs later');
  const t = await waitFor(async () => {
    const g = (await h.req({ method: 'GET', url: `/tunes/${r.json().id}` })).json();
    return g.trained_at ? g : null;
  }, 'trained');
  assert.equal(t.orig_images.length, 4);
  assert.ok(hits.includes('/img/1.png') && hits.includes('/img/2.png'));
  const fetched = await h.app.inject({ method: 'GET', url: new URL(t.orig_images[3]).pathname });
  assert.equal(fetched.headers['content-type'], 'image/png');
  const m = await sharp(fetched.rawPayload).metadata();
  assert.deepEqual([m.width, m.height], [48, 32]);
});

test('JSON image_urls at the top level, beside tune', async () => {
  const r = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: { title: 'json urls', name: 'dog', branch: 'fast' },
      image_urls: [1, 2, 3, 4].map((i) => `${base}/img/${i}.png`),
    },
  });
  assert.equal(r.statusCode, 201, r.body);
  const t = await waitFor(async () => {
    const g = (await h.req({ method: 'GET', url: `/tunes/${r.json().id}` })).json();
    return g.trained_at || g.failed_at ? g : null;
  }, 'done');
  assert.equal(t.status, 'trained', t.user_error);
  assert.equal(t.orig_images.length, 4);
});

test('input images: multipart file, URL and base64 are accepted and recorded (the mock notes them)', async () => {
  const t = await trainedTune(h);
  const file = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    ...(await multipart([
      ['prompt[text]', 'ohwx man'],
      ['prompt[num_images]', '1'],
      ['prompt[denoising_strength]', '0.5'],
      ['prompt[input_image]', { data: await jpeg(80, 80), filename: 'upload' }],
      ['prompt[mask_image]', { data: await jpeg(80, 80), filename: 'upload' }],
    ])),
  });
  assert.equal(file.statusCode, 201, file.body);
  const url = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: {
      prompt: { text: 'ohwx man', num_images: 1, input_image_url: `${base}/img/in.png`, controlnet: 'canny' },
    },
  });
  const b64 = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1, input_image_base64: await dataUrl() } },
  });
  for (const r of [file, url, b64]) {
    assert.equal(r.statusCode, 201, r.body);
    const p = await completedPrompt(h, `/prompts/${r.json().id}`);
    assert.equal(p.status, 'completed', p.user_error);
    assert.ok(
      p.notes.some((n: string) => n.includes('input_image')),
      JSON.stringify(p.notes),
    );
  }
  assert.ok(hits.includes('/img/in.png'));
  const stored = await h.rt.svc.blobs.get(`prompts/${file.json().id}/input`);
  assert.ok(stored && stored.length > 0);
  const badB64 = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', input_image_base64: 'data:image/png;base64,aGVsbG8=' } },
  });
  assert.equal(badB64.statusCode, 415, badB64.body);
});
