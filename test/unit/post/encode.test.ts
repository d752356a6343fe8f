import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { encodeImage, makeThumbnail } from '../../../src/post/encode.ts';
import type { RawImage } from '../../../src/post/types.ts';

function gradient(w: number, h: number, channels: 3 | 4 = 3): RawImage {
  const data = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * channels;
      data[i] = (x * 255) / (w - 1);
      data[i + 1] = (y * 255) / (h - 1);
      data[i + 2] = 128;
      if (channels === 4) data[i + 3] = 255;
    }
  }
  return { data, width: w, height: h, channels };
}

test('JPEG is the default; PNG and WebP on request, each with its content type and extension', async () => {
  const img = gradient(40, 30);
  const cases = [
    [undefined, 'jpeg', 'image/jpeg', 'jpg'],
    ['png', 'png', 'image/png', 'png'],
    ['webp', 'webp', 'image/webp', 'webp'],
  ] as const;
  for (const [format, expected, type, ext] of cases) {
    const enc = await encodeImage(img, format ? { format } : {});
    assert.equal(enc.contentType, type);
    assert.equal(enc.extension, ext);
    const meta = await sharp(enc.data).metadata();
    assert.equal(meta.format, expected);
    assert.equal(meta.width, 40);
    assert.equal(meta.height, 30);
  }
});

test('PNG is lossless', async () => {
  const img = gradient(17, 9);
  const enc = await encodeImage(img, { format: 'png' });
  const { data } = await sharp(enc.data).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual(new Uint8Array(data), img.data);
});

test('no metadata blocks are written (no EXIF, XMP, ICC, PNG text chunks)', async () => {
  const img = gradient(32, 32);
  for (const format of ['jpeg', 'png', 'webp'] as const) {
    const enc = await encodeImage(img, { format });
    const meta = await sharp(enc.data).metadata();
    assert.equal(meta.exif, undefined, `${format} exif`);
    assert.equal(meta.xmp, undefined, `${format} xmp`);
    assert.equal(meta.icc, undefined, `${format} icc`);
    assert.equal(meta.iptc, undefined, `${format} iptc`);
    const bytes = enc.data.toString('latin1');
    for (const marker of ['Exif', 'http://ns.adobe.com/xap', 'tEXt', 'iTXt', 'zTXt', 'EXIF', 'XMP ']) {
      assert.ok(!bytes.includes(marker), `${format} contains ${marker}`);
    }
  }
});

test('JPEG flattens transparency onto white', async () => {
  const img: RawImage = { data: new Uint8Array([0, 0, 0, 0]), width: 1, height: 1, channels: 4 };
  const enc = await encodeImage(img);
  const { data } = await sharp(enc.data).raw().toBuffer({ resolveWithObject: true });
  assert.ok(data[0] > 245 && data[1] > 245 && data[2] > 245, `got ${Array.from(data)}`);
});

test('bad quality and format are rejected', async () => {
  await assert.rejects(encodeImage(gradient(4, 4), { quality: 0 }), RangeError);
  // @ts-expect-error testing a runtime check
  await assert.rejects(encodeImage(gradient(4, 4), { format: 'gif' }), RangeError);
});

test('thumbnails fit inside maxSide keeping the aspect ratio, never enlarge, and carry no metadata', async () => {
  const big = await makeThumbnail(gradient(400, 200), { maxSide: 128 });
  assert.equal(big.width, 128);
  assert.equal(big.height, 64);
  assert.equal(big.contentType, 'image/webp');
  const small = await makeThumbnail(gradient(50, 20), { maxSide: 128, format: 'jpeg' });
  assert.equal(small.width, 50);
  assert.equal(small.height, 20);
  assert.equal((await sharp(small.data).metadata()).exif, undefined);
});
