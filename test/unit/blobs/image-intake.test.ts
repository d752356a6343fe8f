import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import {
  decoderOptions,
  ImageRejectedError,
  type IntakeLimits,
  normalizeImage,
  readImageDimensions,
  sniffImageFormat,
} from '../../../src/blobs/image-intake.ts';

const LIMITS: IntakeLimits = { maxBytes: 5_000_000, maxPixels: 4096 * 4096 };

/** Left half red, right half blue, so a rotation is visible in the pixels. */
function halvesRaw(w: number, h: number): Buffer {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw[(y * w + x) * 3 + (x < w / 2 ? 0 : 2)] = 255;
  }
  return raw;
}
function halves(w: number, h: number) {
  return sharp(halvesRaw(w, h), { raw: { width: w, height: h, channels: 3 } });
}
/** Pseudo-random pixels, so the compressed data is long enough to cut inside the scan. */
function noise(w: number, h: number) {
  const raw = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 7919 + (i >> 5) * 31) % 256));
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
}

/** Tags of IFD0 and of the GPS IFD in an EXIF block ("Exif\0\0" + TIFF), read here independently of sharp. */
function exifTags(exif: Buffer): { ifd0: number[]; gps: number[] } {
  const tiff = exif.subarray(exif.toString('latin1', 0, 4) === 'Exif' ? 6 : 0);
  const le = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const readIfd = (off: number) => {
    const tags: { tag: number; value: number }[] = [];
    for (let i = 0, n = u16(off); i < n; i++)
      tags.push({ tag: u16(off + 2 + i * 12), value: u32(off + 2 + i * 12 + 8) });
    return tags;
  };
  const ifd0 = readIfd(u32(4));
  const gpsPointer = ifd0.find((t) => t.tag === 0x8825);
  return { ifd0: ifd0.map((t) => t.tag), gps: gpsPointer ? readIfd(gpsPointer.value).map((t) => t.tag) : [] };
}

function rejectsWith(status: number, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ImageRejectedError, `expected ImageRejectedError, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.match(e.message, pattern);
    return true;
  };
}

/** A minimal valid PNG chunk stream; CRC-32 per ISO 3309, computed here. */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A PNG of a few hundred bytes whose header declares width×height (8-bit greyscale), with one real row. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('sniffImageFormat reads magic bytes only', async () => {
  assert.equal(sniffImageFormat(await halves(8, 8).jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffImageFormat(await halves(8, 8).png().toBuffer()), 'png');
  assert.equal(sniffImageFormat(await halves(8, 8).webp().toBuffer()), 'webp');
  assert.equal(sniffImageFormat(await halves(8, 8).gif().toBuffer()), null);
  assert.equal(sniffImageFormat(Buffer.from('GIF89a')), null);
  assert.equal(sniffImageFormat(Buffer.from('RIFF\0\0\0\0WAVE')), null);
  assert.equal(sniffImageFormat(Buffer.from([0xff, 0xd8])), null);
  assert.equal(sniffImageFormat(Buffer.alloc(0)), null);
});

test('readImageDimensions agrees with sharp for each format and WebP flavour', async () => {
  const cases: [string, Buffer][] = [
    ['jpeg', await halves(37, 21).jpeg().toBuffer()],
    ['jpeg progressive', await halves(37, 21).jpeg({ progressive: true }).toBuffer()],
    ['png', await halves(37, 21).png().toBuffer()],
    ['webp lossy (VP8)', await halves(37, 21).webp().toBuffer()],
    ['webp lossless (VP8L)', await halves(37, 21).webp({ lossless: true }).toBuffer()],
    ['webp with alpha (VP8X)', await halves(37, 21).ensureAlpha(0.5).webp().toBuffer()],
    [
      'jpeg with EXIF and ICC before the frame',
      await halves(37, 21)
        .withExif({ IFD0: { Copyright: 'x' } })
        .withIccProfile('p3')
        .jpeg()
        .toBuffer(),
    ],
  ];
  for (const [name, buf] of cases) {
    const format = sniffImageFormat(buf);
    assert.ok(format, name);
    assert.deepEqual(readImageDimensions(buf, format), { width: 37, height: 21 }, name);
  }
  assert.equal(readImageDimensions(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]), 'jpeg'), null);
});

test('EXIF orientation 6 is applied and all metadata (EXIF, GPS, ICC) is stripped', async () => {
  const input = await halves(64, 48)
    .withExif({
      IFD0: { Copyright: 'secret-owner' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2400/100' },
    })
    .withMetadata({ orientation: 6 })
    .withIccProfile('p3')
    .jpeg({ quality: 95 })
    .toBuffer();
  // The input really carries what we claim: orientation 6, a GPS IFD, an ICC profile.
  const before = await sharp(input).metadata();
  assert.equal(before.orientation, 6);
  assert.ok(before.icc);
  const tags = exifTags(before.exif!);
  assert.ok(tags.ifd0.includes(0x8825), 'input has a GPS IFD pointer');
  assert.ok(tags.gps.includes(0x0002), 'input has GPSLatitude');

  const out = await normalizeImage(input, LIMITS);
  assert.equal(out.format, 'jpeg');
  assert.deepEqual([out.width, out.height], [48, 64]); // 90° turn swaps the sides
  const after = await sharp(out.data).metadata();
  assert.equal(after.format, 'jpeg');
  assert.deepEqual([after.width, after.height], [48, 64]);
  assert.equal(after.exif, undefined);
  assert.equal(after.icc, undefined);
  assert.equal(after.xmp, undefined);
  assert.equal(after.orientation, undefined);
  assert.equal(out.data.includes(Buffer.from('secret-owner')), false);
  assert.equal(out.data.includes(Buffer.from('Exif\0')), false);

  // Orientation 6 = rotate 90° clockwise to display: the stored left (red) half becomes the top.
  const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
  const px = (x: number, y: number) => [
    ...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
  ];
  const [rTop, , bTop] = px(24, 8);
  const [rBottom, , bBottom] = px(24, 56);
  assert.ok(rTop > 200 && bTop < 60, `top should be red, got ${px(24, 8)}`);
  assert.ok(bBottom > 200 && rBottom < 60, `bottom should be blue, got ${px(24, 56)}`);
});

test('PNG and WebP keep their format, alpha and size', async () => {
  const png = await halves(20, 10).ensureAlpha(0.5).png().toBuffer();
  const outPng = await normalizeImage(png, LIMITS);
  assert.deepEqual([outPng.format, outPng.width, outPng.height], ['png', 20, 10]);
  const pm = await sharp(outPng.data).metadata();
  assert.equal(pm.format, 'png');
  assert.equal(pm.hasAlpha, true);
  assert.equal(pm.space, 'srgb');

  const webp = await halves(20, 10)
    .withExif({ IFD0: { Copyright: 'w' } })
    .webp()
    .toBuffer();
  assert.ok((await sharp(webp).metadata()).exif, 'input WebP has EXIF');
  const outWebp = await normalizeImage(webp, LIMITS);
  assert.deepEqual([outWebp.format, outWebp.width, outWebp.height], ['webp', 20, 10]);
  const wm = await sharp(outWebp.data).metadata();
  assert.equal(wm.format, 'webp');
  assert.equal(wm.exif, undefined);
});

test('a greyscale or CMYK image comes out as sRGB', async () => {
  const grey = await halves(16, 16).greyscale().toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const out = await normalizeImage(grey, LIMITS);
  const m = await sharp(out.data).metadata();
  assert.equal(m.space, 'srgb');
  const cmyk = await halves(16, 16).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  assert.equal((await sharp((await normalizeImage(cmyk, LIMITS)).data).metadata()).space, 'srgb');
});

test('an empty file is refused (422)', async () => {
  await assert.rejects(normalizeImage(Buffer.alloc(0), LIMITS), rejectsWith(422, /empty/));
});

test('text renamed .jpg is not an image (415)', async () => {
  await assert.rejects(
    normalizeImage(Buffer.from('hello, I am a text file\n'), LIMITS),
    rejectsWith(415, /not an image/),
  );
  const gif = await halves(8, 8).gif().toBuffer();
  await assert.rejects(normalizeImage(gif, LIMITS), rejectsWith(415, /not an image/));
});

test('a truncated JPEG could not be decoded (422), even when the cut is deep in the scan data', async () => {
  const jpeg = await noise(128, 96).jpeg({ quality: 90 }).toBuffer();
  await normalizeImage(jpeg, LIMITS); // the whole file is fine
  for (const keep of [0.3, 0.6, 0.95]) {
    const cut = jpeg.subarray(0, Math.floor(jpeg.length * keep));
    await assert.rejects(
      normalizeImage(cut, LIMITS),
      rejectsWith(422, /JPEG image could not be decoded/),
      `keep ${keep}`,
    );
  }
  // Cut inside the header: no frame size to read.
  await assert.rejects(
    normalizeImage(jpeg.subarray(0, 20), LIMITS),
    rejectsWith(422, /could not be decoded/),
  );
});

test('truncated PNG and WebP could not be decoded (422)', async () => {
  const png = await noise(64, 64).png().toBuffer();
  await assert.rejects(
    normalizeImage(png.subarray(0, png.length - 200), LIMITS),
    rejectsWith(422, /PNG image could not be decoded/),
  );
  const webp = await noise(64, 64).webp().toBuffer();
  await assert.rejects(
    normalizeImage(webp.subarray(0, webp.length - 200), LIMITS),
    rejectsWith(422, /WEBP image could not be decoded/),
  );
});

test('a tiny PNG declaring 20000×20000 is refused from its header, before decoding (413)', async () => {
  const bomb = pngDeclaring(20000, 20000);
  assert.ok(bomb.length < 1000, `bomb is ${bomb.length} bytes`);
  assert.deepEqual(readImageDimensions(bomb, 'png'), { width: 20000, height: 20000 });
  await assert.rejects(
    normalizeImage(bomb, LIMITS),
    rejectsWith(413, /declares 20000×20000 = 400000000 pixels; the limit is 16777216.*decompression-bomb/),
  );
  // The generator makes real PNGs: a small one with the same construction decodes (so the 413 is not a parse error).
  const small = await normalizeImage(pngDeclaring(8, 1), LIMITS);
  assert.deepEqual([small.width, small.height], [8, 1]);
});

test('a JPEG and a WebP declaring too many pixels are refused (413)', async () => {
  const jpeg = await halves(300, 200).jpeg().toBuffer();
  await assert.rejects(
    normalizeImage(jpeg, { ...LIMITS, maxPixels: 300 * 200 - 1 }),
    rejectsWith(413, /300×200/),
  );
  await normalizeImage(jpeg, { ...LIMITS, maxPixels: 300 * 200 });
  const webp = await halves(300, 200).ensureAlpha(0.5).webp().toBuffer();
  await assert.rejects(normalizeImage(webp, { ...LIMITS, maxPixels: 1000 }), rejectsWith(413, /300×200/));
});

test("sharp's own pixel limit is set as the second line of defence", async () => {
  assert.deepEqual(decoderOptions({ maxBytes: 1, maxPixels: 1234 }), {
    failOn: 'error',
    limitInputPixels: 1234,
  });
  const png = await halves(40, 40).png().toBuffer();
  await assert.rejects(
    sharp(png, decoderOptions({ maxBytes: 1e6, maxPixels: 1000 })).toBuffer(),
    /pixel limit/,
  );
});

test('oversize bytes are refused before anything else (413)', async () => {
  const jpeg = await noise(64, 64).jpeg().toBuffer();
  await assert.rejects(
    normalizeImage(jpeg, { ...LIMITS, maxBytes: jpeg.length - 1 }),
    rejectsWith(413, new RegExp(`${jpeg.length} bytes; the limit is ${jpeg.length - 1} bytes`)),
  );
  await assert.rejects(
    normalizeImage(Buffer.alloc(100, 0x20), { ...LIMITS, maxBytes: 10 }),
    rejectsWith(413, /limit/),
  );
  assert.equal((await normalizeImage(jpeg, { ...LIMITS, maxBytes: jpeg.length })).format, 'jpeg');
});

test('a file with a valid signature but a broken header is 422, not a crash', async () => {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await assert.rejects(
    normalizeImage(Buffer.concat([sig, Buffer.alloc(40)]), LIMITS),
    rejectsWith(422, /no valid header/),
  );
  await assert.rejects(
    normalizeImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 '), LIMITS),
    rejectsWith(422, /no valid header/),
  );
  await assert.rejects(
    normalizeImage(Buffer.from([0xff, 0xd8, 0xff]), LIMITS),
    rejectsWith(422, /no valid header/),
  );
});

test('EXIF orientation is applied for PNG and WebP too; 16-bit PNG comes out 8-bit', async () => {
  for (const fmt of ['png', 'webp'] as const) {
    const input = await halves(64, 48).withMetadata({ orientation: 6 })[fmt]().toBuffer();
    assert.equal((await sharp(input).metadata()).orientation, 6, fmt);
    const out = await normalizeImage(input, LIMITS);
    assert.deepEqual([out.format, out.width, out.height], [fmt, 48, 64]);
    assert.equal((await sharp(out.data).metadata()).orientation, undefined, fmt);
  }
  const deep = await halves(16, 16).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(deep).metadata()).depth, 'ushort');
  assert.equal((await sharp((await normalizeImage(deep, LIMITS)).data).metadata()).depth, 'uchar');
});
