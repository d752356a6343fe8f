// POST /images/inspect (CLIENTS.md item 37): blur from the variance of the Laplacian, resolution from the header,
// face-related keys left out; multipart file or file_url through the guarded fetcher.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { BLUR_THRESHOLD, laplacianVariance, OMITTED_FIELDS } from '../../src/domain/inspect.ts';
import { type Harness, harness, jpeg, multipart } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

/** A sharp-edged test card: 16 px black/white checkerboard with a seeded sprinkle of noise. */
async function sharpCard(size = 768): Promise<Buffer> {
  const px = Buffer.alloc(size * size * 3);
  let s = 12345;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const v = ((x >> 4) + (y >> 4)) % 2 ? 230 : 25;
      px.fill(
        Math.max(0, Math.min(255, v + ((s >>> 24) % 21) - 10)),
        (y * size + x) * 3,
        (y * size + x) * 3 + 3,
      );
    }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** face-api's demo photos (real camera JPEGs shipped with the detector's weights package). */
const demoPhoto = (n: number) =>
  readFileSync(
    join(
      dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
      'demo',
      `sample${n}.jpg`,
    ),
  );

const inspect = async (file: Buffer, name = 'woman') =>
  h.req({
    method: 'POST',
    url: '/images/inspect',
    ...(await multipart([
      ['name', name],
      ['file', { data: file }],
    ])),
  });

test('laplacianVariance: 0 on a flat image and on a single impulse, and matches a hand computation', () => {
  assert.equal(laplacianVariance({ width: 4, height: 4, data: new Uint8Array(16).fill(77) }), 0);
  // 3×3 with one bright centre: one interior pixel, L = 0+0+0+0 − 4·100 = −400, variance of one value = 0
  assert.equal(
    laplacianVariance({ width: 3, height: 3, data: new Uint8Array([0, 0, 0, 0, 100, 0, 0, 0, 0]) }),
    0,
  );
  // 4×3: interior pixels (1,1)=100 and (2,1)=0 → L = −400 and +100; mean −150, variance 62 500
  const img = { width: 4, height: 3, data: new Uint8Array([0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0]) };
  assert.equal(laplacianVariance(img), 62_500);
});

test('a sharp photo is not blurry; the same photo blurred is; a flat one is', async () => {
  const card = await sharpCard();
  const crisp = (await inspect(card)).json();
  assert.equal(crisp.blurry, false);
  assert.ok(crisp.blur_score > BLUR_THRESHOLD * 10, `score ${crisp.blur_score}`);
  assert.equal(crisp.name, 'woman');
  const soft = (await inspect(await sharp(card).blur(6).jpeg().toBuffer())).json();
  assert.equal(soft.blurry, true, `score ${soft.blur_score}`);
  assert.ok(soft.blur_score < crisp.blur_score / 10);
  assert.equal((await inspect(await jpeg(600, 600))).json().blurry, true);
});

test('real photos: sharp ones are not blurry, the same blurred are; faces counted by the detector', async () => {
  for (const n of [1, 3, 5]) {
    const photo = demoPhoto(n);
    const r = (await inspect(photo)).json();
    assert.equal(r.blurry, false, `sample${n} score ${r.blur_score}`);
    assert.equal(r.includes_multiple_people, true, `sample${n}: ${r.face_count} faces`);
    assert.ok(r.face_count >= 2);
    assert.equal(r.selfie, false, 'group photos: small faces');
    // σ = 7.5 px at 1920 wide ≈ 2 px at the 512-px analysis size
    const soft = (await inspect(await sharp(photo).blur(7.5).jpeg().toBuffer())).json();
    assert.equal(soft.blurry, true, `sample${n} blurred: score ${soft.blur_score}`);
  }
  // One person's head and shoulders cropped from sample1: one face, large in the frame.
  const close = await sharp(demoPhoto(1))
    .extract({ left: 1250, top: 60, width: 640, height: 640 })
    .jpeg()
    .toBuffer();
  const c = (await inspect(close)).json();
  assert.deepEqual(
    [c.face_count, c.includes_multiple_people, c.selfie, c.full_body_image_or_longshot],
    [1, false, true, false],
  );
  const flat = (await inspect(await jpeg(600, 600))).json();
  assert.deepEqual([flat.face_count, flat.includes_multiple_people, flat.selfie], [0, false, false]);
});

test('low_resolution from the short side; size and format reported; unmeasurable keys are left out', async () => {
  const small = (
    await inspect(
      await sharp(await sharpCard())
        .resize(640, 400)
        .jpeg()
        .toBuffer(),
    )
  ).json();
  assert.equal(small.low_resolution, true);
  assert.deepEqual([small.width, small.height, small.format], [640, 400, 'jpeg']);
  const big = (await inspect(await sharpCard(), 'man')).json();
  assert.equal(big.low_resolution, false);
  for (const k of OMITTED_FIELDS) assert.equal(k in big, false, `${k} must not be invented`);
});

test('file_url is fetched through the guarded client; bad inputs are clear errors', async () => {
  const card = await sharpCard(600);
  const server = createServer((req, res) => {
    if (req.url === '/card.jpg') res.end(card);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const ok = await h.req({
      method: 'POST',
      url: '/images/inspect',
      payload: { name: 'man', file_url: `${base}/card.jpg` },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().blurry, false);
    const missing = await h.req({
      method: 'POST',
      url: '/images/inspect',
      payload: { name: 'man', file_url: `${base}/x` },
    });
    assert.equal(missing.statusCode, 422);
    assert.match(missing.json().error, /HTTP 404/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  assert.equal(
    (await h.req({ method: 'POST', url: '/images/inspect', payload: { name: 'man' } })).statusCode,
    422,
  );
  assert.equal((await inspect(Buffer.from('not an image at all'))).statusCode, 415);
  const noName = await h.req({
    method: 'POST',
    url: '/images/inspect',
    ...(await multipart([['file', { data: card }]])),
  });
  assert.equal(noName.statusCode, 422);
});

test('a blocked file_url (private address with the guard on) is refused', async () => {
  const strict = await harness({ outboundAllowPrivate: false });
  try {
    const r = await strict.req({
      method: 'POST',
      url: '/images/inspect',
      payload: { name: 'man', file_url: 'http://169.254.169.254/latest/meta-data' },
    });
    assert.equal(r.statusCode, 422);
    assert.match(r.json().error, /not allowed/);
  } finally {
    await strict.close();
  }
});
