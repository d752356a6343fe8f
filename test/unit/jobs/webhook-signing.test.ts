import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  MAX_DELIVERY_AGE_MS,
  newWebhookSecret,
  nextRetryAt,
  RETRY_MAX_DELAY_MS,
  RETRY_MIN_DELAY_MS,
  retryDelayMs,
  verifyWebhook,
  webhookHeaders,
} from '../../../src/jobs/webhook-signing.ts';

// Public example vector from the Standard Webhooks reference libraries (libraries/go/webhook_test.go, TestWebhookSign).
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

test('the Standard Webhooks example vector', () => {
  const h = webhookHeaders(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body);
  assert.deepEqual(h, {
    'webhook-id': SPEC.id,
    'webhook-timestamp': '1614265330',
    'webhook-signature': SPEC.signature,
  });
  assert.equal(verifyWebhook(SPEC.secret, h, SPEC.body, 300, SPEC.timestamp + 10), true);
  // The prefix is optional on the verifying side, as in the reference libraries.
  assert.equal(verifyWebhook(SPEC.secret.slice(6), h, SPEC.body, 300, SPEC.timestamp), true);
});

test('matches an HMAC computed independently with node:crypto', () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify({ prompt: { id: 7, images: ['https://x/1.jpg'], tune_id: 3, text: 'ünï 🎨' } });
  const ts = 1_700_000_000;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(Buffer.from(`evt_1.${ts}.${body}`, 'utf8'))
    .digest('base64');
  assert.equal(webhookHeaders(secret, 'evt_1', ts, body)['webhook-signature'], `v1,${expected}`);
});

test('newWebhookSecret: whsec_ + base64 of 32 random bytes, never repeated', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const s = newWebhookSecret();
    assert.match(s, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(s.slice(6), 'base64').length, 32);
    seen.add(s);
  }
  assert.equal(seen.size, 50);
});

test('verifyWebhook: multiple space-separated signatures, only v1 counts', () => {
  const h = webhookHeaders(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body);
  const sig = h['webhook-signature'];
  const b64 = sig.slice(3);
  const other = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';
  const at = (s: string) =>
    verifyWebhook(SPEC.secret, { ...h, 'webhook-signature': s }, SPEC.body, 300, SPEC.timestamp);
  assert.equal(at(`${other} v2,${b64} ${sig} ${other}`), true);
  assert.equal(at(`${other} v2,${b64}`), false); // the right bytes under another scheme do not count
  assert.equal(at(`v1a,${b64}`), false);
  for (const junk of ['', 'v1', 'v1,', `v1,${b64.slice(0, -4)}`, 'v1,!!!!', `,${b64}`, `v1 ${b64}`]) {
    assert.equal(at(junk), false, JSON.stringify(junk));
  }
});

test('verifyWebhook: any change to id, timestamp, body or secret fails', () => {
  const h = webhookHeaders(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body);
  const now = SPEC.timestamp;
  assert.equal(verifyWebhook(SPEC.secret, h, `${SPEC.body} `, 300, now), false);
  assert.equal(verifyWebhook(SPEC.secret, { ...h, 'webhook-id': 'msg_other' }, SPEC.body, 300, now), false);
  assert.equal(
    verifyWebhook(SPEC.secret, { ...h, 'webhook-timestamp': String(now + 1) }, SPEC.body, 300, now),
    false,
  );
  assert.equal(verifyWebhook(newWebhookSecret(), h, SPEC.body, 300, now), false);
  assert.equal(verifyWebhook('whsec_not base64!', h, SPEC.body, 300, now), false);
});

test('verifyWebhook: header names are case-insensitive, missing headers fail', () => {
  const h = webhookHeaders(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body);
  const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
  assert.equal(verifyWebhook(SPEC.secret, upper, SPEC.body, 300, SPEC.timestamp), true);
  for (const k of Object.keys(h)) {
    const { [k]: _dropped, ...rest } = h;
    assert.equal(verifyWebhook(SPEC.secret, rest, SPEC.body, 300, SPEC.timestamp), false, k);
  }
});

test('verifyWebhook: timestamp tolerance in both directions, inclusive', () => {
  const h = webhookHeaders(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body);
  const v = (now: number, tol?: number) => verifyWebhook(SPEC.secret, h, SPEC.body, tol, now);
  assert.equal(v(SPEC.timestamp + 300), true);
  assert.equal(v(SPEC.timestamp + 301), false); // too old
  assert.equal(v(SPEC.timestamp - 300), true);
  assert.equal(v(SPEC.timestamp - 301), false); // from the future
  assert.equal(v(SPEC.timestamp + 3600, 3600), true);
  assert.equal(v(SPEC.timestamp + 301), false); // default tolerance is 5 minutes
  assert.equal(
    verifyWebhook(SPEC.secret, { ...h, 'webhook-timestamp': '1614265330.0' }, SPEC.body, 300, SPEC.timestamp),
    false,
  );
  // Default "now" is the real clock: a 2021 timestamp is far outside the window.
  assert.equal(verifyWebhook(SPEC.secret, h, SPEC.body), false);
  const fresh = Math.floor(Date.now() / 1000);
  assert.equal(verifyWebhook(SPEC.secret, webhookHeaders(SPEC.secret, 'm', fresh, 'b'), 'b'), true);
});

test('webhookHeaders refuses ids and timestamps that would make the signed content ambiguous', () => {
  assert.throws(() => webhookHeaders(SPEC.secret, 'a.b', 1, ''), /contain no "."/);
  assert.throws(() => webhookHeaders(SPEC.secret, '', 1, ''), /non-empty/);
  assert.throws(() => webhookHeaders(SPEC.secret, 'a', 1.5, ''), /whole seconds/);
  assert.throws(() => webhookHeaders('whsec_c2hvcnQ=', 'a', 1, ''), /at least 24 bytes/);
});

test('retryDelayMs: exponential ceiling 5 s · 2^(n−1) capped at 1 h, full jitter, floor 1 s', () => {
  const top = () => 1 - Number.EPSILON;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 50].map((n) => Math.round(retryDelayMs(n, top) / 1000)),
    [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600],
  );
  assert.equal(
    retryDelayMs(7, () => 0.5),
    160_000,
  );
  assert.equal(
    retryDelayMs(3, () => 0),
    RETRY_MIN_DELAY_MS,
  );
  assert.equal(retryDelayMs(0, top), retryDelayMs(1, top)); // below 1 counts as the first failure
  assert.equal(retryDelayMs(Number.NaN, top), retryDelayMs(1, top));
  assert.equal(retryDelayMs(1e9, top), Math.floor(top() * RETRY_MAX_DELAY_MS));
});

test('retryDelayMs: always within [1 s, min(1 h, ceiling)] for any attempt and random value', () => {
  fc.assert(
    fc.property(fc.integer({ min: -5, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
      const d = retryDelayMs(n, () => r);
      const ceiling = Math.min(RETRY_MAX_DELAY_MS, 5000 * 2 ** Math.min(Math.max(n, 1) - 1, 30));
      assert.ok(Number.isInteger(d));
      assert.ok(d >= RETRY_MIN_DELAY_MS && d <= Math.max(ceiling, RETRY_MIN_DELAY_MS), `${n} ${r} → ${d}`);
    }),
  );
});

test('nextRetryAt: retries continue through the 24 h window and stop after it', () => {
  assert.equal(MAX_DELIVERY_AGE_MS, 86_400_000);
  for (const r of [0, 0.5, 1 - Number.EPSILON]) {
    const first = 1_000_000;
    let now = first;
    let attempts = 1;
    for (;;) {
      const next = nextRetryAt(attempts, first, now, () => r);
      if (next === null) break;
      assert.ok(next - now <= RETRY_MAX_DELAY_MS);
      now = next;
      attempts += 1;
      assert.ok(attempts < 100_000);
    }
    // The last attempt happens within the window, and the one after it would not.
    assert.ok(now - first <= MAX_DELIVERY_AGE_MS);
    assert.ok(
      now - first > MAX_DELIVERY_AGE_MS - RETRY_MAX_DELAY_MS,
      `r=${r}: stopped early at ${now - first}`,
    );
    assert.ok(attempts >= 24, `r=${r}: ${attempts} attempts`);
  }
});
