import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createImageUrlSigner } from '../../../src/blobs/signed-urls.ts';

const s = createImageUrlSigner('secret', 'https://x.test', 3600);
const now = Date.parse('2026-01-01T00:00:10Z'); // inside a bucket, not on its edge

test('URLs are absolute, end in the image extension, and avoid /prompts/ and .json', () => {
  const u = s.url('images', 12, 'image/jpeg', now);
  assert.match(u, /^https:\/\/x\.test\/images\/12\/\d+\/[\w-]{32}\.jpg$/);
  assert.match(s.url('images', 12, 'image/png', now), /\.png$/);
  assert.doesNotMatch(u, /\/prompts\/|\.json/);
});

test('verify accepts its own signature until expiry, and nothing else', () => {
  const [, , , , id, exp, file] = s.url('images', 12, 'image/jpeg', now).split('/');
  const sig = file.replace(/\.jpg$/, '');
  assert.ok(s.verify('images', Number(id), Number(exp), sig, now));
  assert.ok(!s.verify('images', 13, Number(exp), sig, now));
  assert.ok(!s.verify('tune-images', 12, Number(exp), sig, now), 'namespaces are separate');
  assert.ok(!s.verify('images', 12, Number(exp) + 1, sig, now));
  assert.ok(!s.verify('images', 12, Number(exp), sig, Number(exp) * 1000 + 1), 'expired');
  assert.ok(
    !createImageUrlSigner('other', 'https://x.test', 3600).verify('images', 12, Number(exp), sig, now),
  );
});

test('expiry is bucketed so polls within a bucket return the same URL, and lasts at least the TTL', () => {
  assert.equal(s.url('images', 1, 'image/jpeg', now), s.url('images', 1, 'image/jpeg', now + 1000));
  const exp = Number(s.url('images', 1, 'image/jpeg', now).split('/')[5]);
  assert.ok(exp * 1000 >= now + 3600 * 1000);
});

test('remembered signatures match freshly computed ones across buckets and past the cache size', () => {
  const warm = createImageUrlSigner('secret', 'https://x.test', 3600);
  const times = [now, now + 900_000, now + 1_800_000, now]; // next buckets, then back to the first
  for (const t of times)
    for (let id = 1; id <= 12_000; id++) {
      const fresh = createImageUrlSigner('secret', 'https://x.test', 3600);
      assert.equal(warm.url('images', id, 'image/jpeg', t), fresh.url('images', id, 'image/jpeg', t));
    }
  // namespaces do not share entries
  assert.notEqual(
    warm.url('images', 5, 'image/jpeg', now),
    warm.url('tune-images', 5, 'image/jpeg', now).replace('tune-images', 'images'),
  );
});
