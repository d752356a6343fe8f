// Client-side training-photo checks: the same rules as the server (API.md §2, §5), sniffing bytes not names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageCountRule } from '../../src/domain/tune-schema.ts';
import { checkTrainingImages, imageCountRange, sniffFile, sniffFormat } from '../../web/src/upload/checks.ts';

const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]);
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
const WEBP = new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBP');
const GIF = new TextEncoder().encode('GIF89a......');

test('formats are sniffed from magic numbers', () => {
  assert.equal(sniffFormat(JPEG), 'jpeg');
  assert.equal(sniffFormat(PNG), 'png');
  assert.equal(sniffFormat(WEBP), 'webp');
  assert.equal(sniffFormat(GIF), null);
  assert.equal(sniffFormat(new TextEncoder().encode('hello, not an image')), null);
  assert.equal(sniffFormat(new Uint8Array(0)), null);
  assert.equal(sniffFormat(JPEG.subarray(0, 2)), null);
});

test('sniffFile reads a Blob (a text file renamed .jpg is caught)', async () => {
  assert.equal(await sniffFile(new Blob([PNG])), 'png');
  assert.equal(await sniffFile(new Blob(['just text'], { type: 'image/jpeg' })), null);
});

const limits = { maxFileBytes: 1000, maxFiles: 24 };
const ok = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `p${i}.jpg`, size: 500, format: 'jpeg' as const }));

test('count rules mirror the domain rule for every count and model type', () => {
  for (const modelType of ['lora', 'faceid', 'pti', '']) {
    for (let n = 1; n <= 22; n++) {
      const client = checkTrainingImages(ok(n), modelType, limits).ok;
      const server = imageCountRule(modelType || undefined, n) === null;
      assert.equal(
        client,
        server,
        `${modelType || 'default'} with ${n} images: client ${client}, server ${server}`,
      );
    }
  }
  assert.deepEqual(imageCountRange('faceid'), { min: 1, max: 20 });
});

test('per-file problems: empty, too large, not an image', () => {
  const files = [
    ...ok(4),
    { name: 'empty.jpg', size: 0, format: null },
    { name: 'big.jpg', size: 1001, format: 'jpeg' as const },
    { name: 'notes.jpg', size: 10, format: null },
  ];
  const r = checkTrainingImages(files, 'lora', limits);
  assert.equal(r.ok, false);
  assert.deepEqual([...r.fileErrors.keys()], [4, 5, 6]);
  assert.match(r.fileErrors.get(4)!, /empty/);
  assert.match(r.fileErrors.get(5)!, /over the 1000 B limit/);
  assert.match(r.fileErrors.get(6)!, /not a JPEG, PNG or WebP/);
});

test("the server's per-request file cap lowers the count limit", () => {
  const r = checkTrainingImages(ok(6), 'lora', { maxFileBytes: 1000, maxFiles: 5 });
  assert.deepEqual(r.setErrors, ['At most 5 photos (6 chosen).']);
});
