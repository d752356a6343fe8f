// Upload limits and bad files (brief item 9): each bad case is a clear 4xx and stores nothing.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { deflateSync as zlibSync } from 'node:zlib';
import sharp from 'sharp';
import { type Harness, harness, jpeg, multipart } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness({ uploadMaxFileBytes: 200_000, uploadMaxFiles: 24, imageMaxPixels: 4_000_000 });
});
after(() => h.close());

async function tuneCount() {
  const rows = await h.rt.svc.db.selectFrom('tunes').select('id').execute();
  return rows.length;
}
function blobFiles(): string[] {
  try {
    return readdirSync(join(h.dir, 'blobs'), { recursive: true }).map(String);
  } catch {
    return [];
  }
}

/** Post a multipart tune with 3 good images plus `bad`, and check a 4xx that stores nothing. */
async function rejectsTune(
  bad: { data: Buffer; filename?: string },
  status: number | number[],
  match?: RegExp,
) {
  const before = { tunes: await tuneCount(), blobs: blobFiles().length };
  const good = await Promise.all(
    [0, 1, 2].map(async () => ['tune[images][]', { data: await jpeg() }] as [string, { data: Buffer }]),
  );
  const mp = await multipart([
    ['tune[title]', `bad-${Math.random()}`],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ...good,
    ['tune[images][]', bad],
  ]);
  const r = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.ok([status].flat().includes(r.statusCode), `${r.statusCode} ${r.body}`);
  assert.equal(typeof r.json().error, 'string');
  if (match) assert.match(r.json().error, match);
  assert.equal(await tuneCount(), before.tunes, 'no tune row');
  assert.equal(blobFiles().length, before.blobs, 'no stored file');
  return r;
}

/** A valid 1×1 PNG whose IHDR then claims w×h (a decompression-bomb shape: tiny file, huge canvas). */
function pngDeclaring(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(Buffer.alloc(1 + 3 * Math.min(w, 4)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

test('an empty file is rejected', async () => {
  await rejectsTune({ data: Buffer.alloc(0), filename: 'empty.jpg' }, [415, 422]);
});

test('a text file renamed .jpg is 415 (format sniffed from bytes)', async () => {
  await rejectsTune(
    { data: Buffer.from('hello, I am not an image\n'.repeat(20)), filename: 'photo.jpg' },
    415,
  );
});

test('a tiny PNG declaring 20000×20000 is refused before decoding (413)', async () => {
  const bomb = pngDeclaring(20000, 20000);
  assert.ok(bomb.length < 200);
  await rejectsTune({ data: bomb, filename: 'bomb.png' }, 413, /pixels/);
});

test('a truncated JPEG is 422', async () => {
  const full = await sharp({
    create: {
      width: 256,
      height: 256,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg()
    .toBuffer();
  await rejectsTune({ data: full.subarray(0, Math.floor(full.length / 2)), filename: 't.jpg' }, 422);
});

test('a file over the per-file cap is 413', async () => {
  const big = await sharp({
    create: {
      width: 700,
      height: 700,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .jpeg({ quality: 100 })
    .toBuffer();
  assert.ok(big.length > 200_000);
  await rejectsTune({ data: big, filename: 'big.jpg' }, 413);
});

test('21 images: 422 naming the 4–20 rule; 25 file parts: 413 from the file-count cap', async () => {
  const img = await jpeg();
  const before = await tuneCount();
  const parts = (n: number) =>
    multipart([
      ['tune[title]', `many-${n}`],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ...Array.from({ length: n }, () => ['tune[images][]', { data: img }] as [string, { data: Buffer }]),
    ]);
  const r21 = await h.req({ method: 'POST', url: '/tunes', ...(await parts(21)) });
  assert.equal(r21.statusCode, 422, r21.body);
  assert.match(r21.json().errors.images[0], /4–20/);
  const r25 = await h.req({ method: 'POST', url: '/tunes', ...(await parts(25)) });
  assert.equal(r25.statusCode, 413, r25.body);
  assert.equal(await tuneCount(), before);
  const r3 = await h.req({ method: 'POST', url: '/tunes', ...(await parts(3)) });
  assert.equal(r3.statusCode, 422);
  const r0 = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'none', name: 'man', branch: 'fast' } },
  });
  assert.equal(r0.statusCode, 422);
  assert.equal(r0.json().error, 'Images must contain at least one image');
});

test('faceid tunes accept a single image', async () => {
  const mp = await multipart([
    ['tune[title]', 'faceid one'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[model_type]', 'faceid'],
    ['tune[images][]', { data: await jpeg() }],
  ]);
  const r = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal(r.json().model_type, 'faceid');
});

test('EXIF orientation is applied and metadata stripped on stored training images', async () => {
  // 40×20 pixels tagged orientation 6 (rotate 90° clockwise to view) → stored as 20×40 with no EXIF.
  const rotated = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#3a6' } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(rotated).metadata()).orientation, 6);
  const good = await Promise.all(
    [0, 1, 2].map(async () => ['tune[images][]', { data: await jpeg() }] as [string, { data: Buffer }]),
  );
  const mp = await multipart([
    ['tune[title]', 'exif'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ['tune[images][]', { data: rotated }],
    ...good,
  ]);
  const r = await h.req({ method: 'POST', url: '/tunes', ...mp });
  assert.equal(r.statusCode, 201, r.body);
  const stored = await h.app.inject({ method: 'GET', url: new URL(r.json().orig_images[0]).pathname });
  const meta = await sharp(stored.rawPayload).metadata();
  assert.equal(meta.width, 20);
  assert.equal(meta.height, 40);
  assert.equal(meta.exif, undefined);
  assert.equal(meta.orientation, undefined);
});

test('a prompt input_image goes through the same intake (text renamed .png → 415)', async () => {
  const t = await h.req({
    method: 'POST',
    url: '/tunes',
    ...(await multipart([
      ['tune[title]', 'for input'],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ['tune[model_type]', 'faceid'],
      ['tune[images][]', { data: await jpeg() }],
    ])),
  });
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${t.json().id}/prompts`,
    ...(await multipart([
      ['prompt[text]', 'ohwx man'],
      ['prompt[input_image]', { data: Buffer.from('not a png'), filename: 'x.png' }],
    ])),
  });
  assert.equal(r.statusCode, 415, r.body);
  assert.equal((await h.req({ method: 'GET', url: `/tunes/${t.json().id}/prompts` })).json().length, 0);
});
