// Oversize and decompression-bomb images: refused with 413 before they are decoded or stored, with no rows
// written. Limits are set small here so the test stays cheap; the same code paths guard the defaults.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { type Harness, harness, jpeg, multipart, trainedTune } from '../api/helpers.ts';
import { rowCounts } from './counts.ts';

let h: Harness;
let tuneId: number;

before(async () => {
  h = await harness({
    uploadMaxFileBytes: 64 * 1024,
    uploadMaxFiles: 6,
    bodyMaxBytes: 512 * 1024,
    imageMaxPixels: 4_000_000,
  });
  tuneId = (await trainedTune(h)).id;
});
after(() => h.close());

/** A PNG that claims w×h pixels: its IDAT is a few bytes of deflate but would inflate to w·h bytes. */
function pngBomb(w: number, ht: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(ht, 4);
  ihdr[8] = 8; // bit depth 8, colour type 0 (grey)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(w + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function tuneWith(images: Buffer[]) {
  return multipart([
    ['tune[title]', `img-${Math.random()}`],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ...images.map((data): [string, { data: Buffer; filename: string; type: string }] => [
      'tune[images][]',
      { data, filename: 'x.png', type: 'image/png' },
    ]),
  ]);
}

async function expectStatus(
  status: number,
  what: string,
  req: { url: string; payload: Buffer; headers: Record<string, string> },
) {
  const before = await rowCounts(h);
  const res = await h.req({ method: 'POST', ...req });
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  assert.deepEqual(await rowCounts(h), before, `${what}: nothing written`);
  return res;
}

test('a decompression bomb (tiny file, 20000×20000 declared) is 413 from the header, never decoded', async () => {
  const small = await jpeg();
  const bomb = pngBomb(20000, 20000);
  assert.ok(bomb.length < 64 * 1024, 'the bomb itself is small');
  await expectStatus(413, 'bomb in a tune', {
    url: '/tunes',
    ...(await tuneWith([small, small, small, bomb])),
  });
  const body = await multipart([
    ['prompt[text]', 'ohwx man'],
    ['prompt[input_image]', { data: bomb, filename: 'b.png', type: 'image/png' }],
  ]);
  await expectStatus(413, 'bomb as input_image', { url: `/tunes/${tuneId}/prompts`, ...body });
  const b64 = `data:image/png;base64,${bomb.toString('base64')}`;
  const before = await rowCounts(h);
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tuneId}/prompts`,
    payload: { prompt: { text: 'ohwx man', input_image_base64: b64 } },
  });
  assert.equal(res.statusCode, 413, res.body);
  assert.deepEqual(await rowCounts(h), before);
});

test('a file over the per-file cap, too many files, and a body over the whole-body cap are 413', async () => {
  const big = Buffer.concat([await jpeg(), Buffer.alloc(100 * 1024)]);
  await expectStatus(413, 'file over cap', { url: '/tunes', ...(await tuneWith([big, big, big, big])) });
  const small = await jpeg();
  await expectStatus(413, 'too many files', { url: '/tunes', ...(await tuneWith(Array(8).fill(small))) });
  const json = Buffer.from(
    JSON.stringify({ tune: { title: 'x', name: 'man', images: ['x'.repeat(600 * 1024)] } }),
  );
  await expectStatus(413, 'JSON body over cap', {
    url: '/tunes',
    payload: json,
    headers: { 'content-type': 'application/json' },
  });
});

test('sanity: the same request with ordinary images is accepted (the limits are not refusing everything)', async () => {
  const small = await jpeg();
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    ...(await tuneWith([small, small, small, small])),
  });
  assert.equal(res.statusCode, 201, res.body);
});
