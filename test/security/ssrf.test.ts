// SSRF at request time: every URL the server will later fetch or call (callback, tune images / image_urls,
// prompt input_image_url / mask_image_url, and the same inside prompts_attributes) is checked against the outbound
// policy when the request arrives. A refused target is a 422 naming the field and nothing is written. DNS answers
// come from a fake lookup injected through the runtime, so names "resolve" to private addresses without a network.
// Redirect hops to private targets are refused by the fetch itself (test/unit/net/guarded-fetch.test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dataUrl, type Harness, harness, trainedTune } from '../api/helpers.ts';
import { rowCounts } from './counts.ts';

const FAKE_DNS: Record<string, string[]> = {
  'intranet.example': ['10.1.2.3'],
  'loop.example': ['127.0.0.1'],
  'v6loop.example': ['::1'],
  'mixed.example': ['93.184.216.34', '192.168.1.10'], // one private answer is enough to refuse
  'metadata.example': ['169.254.169.254'],
};

/** Targets the policy must refuse: loopback, private ranges, IPv6 spellings, numeric IPv4 forms, DNS to private. */
const HOSTILE = [
  'http://127.0.0.1/x.jpg',
  'http://localhost/x.jpg',
  'http://10.0.0.1/x.jpg',
  'http://172.16.5.4/x.jpg',
  'http://192.168.0.1/x.jpg',
  'http://169.254.169.254/latest/meta-data/',
  'http://100.64.0.1/x.jpg',
  'http://0.0.0.0/x.jpg',
  'http://[::1]/x.jpg',
  'http://[::ffff:127.0.0.1]/x.jpg',
  'http://[::ffff:a9fe:a9fe]/x.jpg',
  'http://[fe80::1]/x.jpg',
  'http://[fd00::1]/x.jpg',
  'http://[64:ff9b::a00:1]/x.jpg',
  'http://2130706433/x.jpg', // decimal 127.0.0.1
  'http://0177.0.0.1/x.jpg', // octal
  'http://0x7f.1/x.jpg', // hex, short form
  'http://017700000001/x.jpg',
  'http://intranet.example/x.jpg',
  'http://loop.example/x.jpg',
  'http://v6loop.example/x.jpg',
  'http://mixed.example/x.jpg',
  'http://metadata.example/x.jpg',
  'http://metadata.google.internal/computeMetadata/v1/',
];

let h: Harness;
let tuneId: number;

before(async () => {
  h = await harness(
    { outboundAllowPrivate: false },
    { outboundLookup: async (host) => FAKE_DNS[host] ?? ['93.184.216.34'] },
  );
  // The fixture tune itself must not use any URL: images as data URLs.
  tuneId = (
    await trainedTune(h, { images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()] })
  ).id;
});
after(() => h.close());

async function expectRefused(field: string, req: { url: string; payload: unknown }) {
  const before = await rowCounts(h);
  const res = await h.req({ method: 'POST', url: req.url, payload: req.payload as object });
  assert.equal(res.statusCode, 422, `${field}: ${res.body}`);
  const body = res.json();
  assert.equal(body.code, 'validation_failed');
  assert.ok(body.errors?.[field], `the 422 names ${field}: ${res.body}`);
  assert.deepEqual(await rowCounts(h), before, `${field}: a refused request wrote nothing`);
}

const tuneBody = async (extra: Record<string, unknown>) => ({
  tune: {
    title: `ssrf-${Math.random()}`,
    name: 'man',
    branch: 'fast',
    images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()],
    ...extra,
  },
});

test('tune callback: every hostile target is a 422 naming callback', async () => {
  for (const url of HOSTILE)
    await expectRefused('callback', { url: '/tunes', payload: await tuneBody({ callback: url }) });
});

test('tune image_urls[]: a private image URL is refused at request time, not a failed tune later', async () => {
  for (const url of HOSTILE)
    await expectRefused('image_urls.1', {
      url: '/tunes',
      payload: await tuneBody({ image_urls: ['https://cdn.example/ok.jpg', url] }),
    });
});

test('tune images[] given as URLs are checked too, named by their position', async () => {
  const images = [await dataUrl(), await dataUrl(), 'http://10.0.0.1/a.jpg', await dataUrl()];
  await expectRefused('images.2', { url: '/tunes', payload: await tuneBody({ images }) });
});

test('prompt callback, input_image_url and mask_image_url: every hostile target is a 422 naming the field', async () => {
  for (const field of ['callback', 'input_image_url', 'mask_image_url'])
    for (const url of HOSTILE) {
      const prompt: Record<string, unknown> = { text: 'ohwx man', num_images: 1, [field]: url };
      // a mask needs an input image; give it a public one so only the field under test is hostile
      if (field === 'mask_image_url') prompt.input_image_url = 'https://cdn.example/in.jpg';
      await expectRefused(field, { url: `/tunes/${tuneId}/prompts`, payload: { prompt } });
    }
});

test('prompts_attributes[] URLs on tune create are checked with their full field path', async () => {
  for (const field of ['callback', 'input_image_url'])
    await expectRefused(`prompts_attributes.0.${field}`, {
      url: '/tunes',
      payload: await tuneBody({
        prompts_attributes: [{ text: 'ohwx man', num_images: 1, [field]: 'http://[::1]/x' }],
      }),
    });
});

test('public targets still pass the request-time check (the guard is not simply refusing everything)', async () => {
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: {
      prompt: { text: 'ohwx man', num_images: 1, callback: 'https://hooks.example/cb?webhook_secret=s' },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const t = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: await tuneBody({ image_urls: ['https://cdn.example/a.jpg'] }),
  });
  assert.equal(t.statusCode, 201, t.body);
});

test('inspect file_url: every hostile target is a 422 naming file_url (fetched at request time by the guard)', async () => {
  for (const url of HOSTILE)
    await expectRefused('file_url', { url: '/images/inspect', payload: { name: 'man', file_url: url } });
});
