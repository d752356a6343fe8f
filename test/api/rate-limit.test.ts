// Per-account rate limit: 429 with Retry-After once the bucket is empty; other accounts are unaffected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TokenBuckets } from '../../src/api/plugins/rate-limit.ts';
import { type Harness, harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness({ rateLimitPerMinute: 5 });
});
after(() => h.close());

test('the sixth request in a burst of a 5/min account is a 429 with Retry-After; B is unaffected', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await h.req({ method: 'GET', url: '/tunes' })).statusCode, 200);
  const r = await h.req({ method: 'GET', url: '/tunes' });
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().code, 'rate_limited');
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.equal((await h.req({ method: 'GET', url: '/tunes', key: h.keyB })).statusCode, 200);
  assert.equal(
    (await h.req({ method: 'GET', url: '/healthz', key: null })).statusCode,
    200,
    'public routes are not limited',
  );
});

test('token bucket refills evenly', () => {
  const b = new TokenBuckets(2, 2 / 60_000);
  assert.equal(b.take(1, 0), 0);
  assert.equal(b.take(1, 0), 0);
  assert.equal(b.take(1, 0), 30_000);
  assert.equal(b.take(1, 30_000), 0);
  assert.equal(b.take(2, 0), 0, 'per key');
});
