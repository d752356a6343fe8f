// Property test for image intake: valid images with random byte flips, truncations and rewritten header sizes
// either normalise to a valid image of the same format or are refused with ImageRejectedError — never another
// error, never an oversized decode.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { ImageRejectedError, type IntakeLimits, normalizeImage } from '../../src/blobs/image-intake.ts';

const LIMITS: IntakeLimits = { maxBytes: 200_000, maxPixels: 256 * 256 };
let seeds: Buffer[] = [];

before(async () => {
  const raw = Buffer.from(Array.from({ length: 48 * 40 * 3 }, (_, i) => (i * 37 + (i >> 7) * 11) % 256));
  const img = () => sharp(raw, { raw: { width: 48, height: 40, channels: 3 } });
  seeds = [
    await img().jpeg().toBuffer(),
    await img().jpeg({ progressive: true }).withMetadata({ orientation: 6 }).toBuffer(),
    await img().png().toBuffer(),
    await img().ensureAlpha(0.5).png({ palette: true }).toBuffer(),
    await img().webp().toBuffer(),
    await img().webp({ lossless: true }).toBuffer(),
    await img().ensureAlpha(0.3).webp().toBuffer(),
  ];
});

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    value: fc.nat(255),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.double({ min: 0, max: 1, noNaN: true }) }),
  // overwrite bytes where the header sizes live (PNG 16–23, JPEG SOF somewhere early, WebP 24–29)
  fc.record({
    kind: fc.constant('header' as const),
    at: fc.integer({ min: 12, max: 200 }),
    value: fc.nat(255),
  }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);

function mutate(buf: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(buf);
  switch (m.kind) {
    case 'flip':
      for (let i = 0; i < m.count; i++) out[(m.at + i * 131) % out.length] = m.value;
      return out;
    case 'truncate':
      return out.subarray(0, Math.floor(out.length * m.keep));
    case 'header':
      if (m.at < out.length) out[m.at] = m.value;
      return out;
    case 'append':
      return Buffer.concat([out, Buffer.from(m.bytes)]);
  }
}
type Mutation =
  | { kind: 'flip'; at: number; value: number; count: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'header'; at: number; value: number }
  | { kind: 'append'; bytes: Uint8Array };

test('mutated images normalise or are refused with ImageRejectedError only', async () => {
  const outcomes = { ok: 0, 413: 0, 415: 0, 422: 0 };
  await fc.assert(
    fc.asyncProperty(fc.nat(6), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (seed, ms) => {
      let buf = seeds[seed];
      for (const m of ms as Mutation[]) buf = mutate(buf, m);
      try {
        const out = await normalizeImage(buf, LIMITS);
        outcomes.ok += 1;
        const meta = await sharp(out.data).metadata();
        assert.equal(meta.format, out.format);
        assert.ok(out.width * out.height <= LIMITS.maxPixels);
        assert.equal(meta.exif, undefined);
      } catch (e) {
        if (!(e instanceof ImageRejectedError)) throw e;
        outcomes[e.status] += 1;
      }
    }),
    { numRuns: 600 },
  );
  // Both outcomes must be common, or the mutations are too gentle / too brutal to say anything.
  assert.ok(outcomes.ok > 30 && outcomes[422] > 30, JSON.stringify(outcomes));
});

test('random bytes are never mistaken for an image', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      await assert.rejects(normalizeImage(Buffer.from(bytes), LIMITS), ImageRejectedError);
    }),
    { numRuns: 300 },
  );
});
