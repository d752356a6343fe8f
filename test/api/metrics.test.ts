// GET /metrics: Prometheus text with queue depth, durations and callback figures from the database; loopback-only
// without ATELIER_METRICS_TOKEN, bearer token with it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { completedPrompt, type Harness, harness, receiver, trainedTune } from './helpers.ts';

describe('metrics without a token', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('reports jobs per type/state, durations and callback deliveries after real work', async () => {
    const rx = await receiver();
    try {
      const t = await trainedTune(h, { callback: `${rx.base}/t` });
      const p = await h.req({
        method: 'POST',
        url: `/tunes/${t.id}/prompts`,
        payload: { prompt: { text: 'ohwx man', num_images: 1 } },
      });
      assert.equal(p.statusCode, 201, p.body);
      assert.equal((await completedPrompt(h, `/tunes/${t.id}/prompts/${p.json().id}`)).status, 'completed');
      const r = await h.req({ method: 'GET', url: '/metrics', key: null });
      assert.equal(r.statusCode, 200, r.body);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = r.body;
      assert.match(text, /^# TYPE atelier_jobs gauge$/m);
      assert.match(text, /^atelier_jobs\{type="train",state="completed"\} 1$/m);
      assert.match(text, /^atelier_jobs\{type="prompt",state="completed"\} 1$/m);
      assert.match(text, /^atelier_job_duration_seconds_count\{type="prompt"\} 1$/m);
      assert.match(text, /^atelier_job_duration_seconds\{type="train",quantile="0\.5"\} \d/m);
      assert.match(text, /^atelier_callback_deliveries\{status="(pending|delivered)"\} 1$/m);
      assert.match(text, /^atelier_callback_attempts\{outcome="failed"\} 0$/m);
    } finally {
      await rx.close();
    }
  });

  test('a caller that is not on loopback is refused', async () => {
    const r = await h.req({ method: 'GET', url: '/metrics', key: null, remoteAddress: '203.0.113.9' });
    assert.equal(r.statusCode, 403);
  });
});

describe('metrics with ATELIER_METRICS_TOKEN', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ metricsToken: 's3cret-token' });
  });
  after(() => h.close());

  test('needs the bearer token, even from loopback', async () => {
    assert.equal((await h.req({ method: 'GET', url: '/metrics', key: null })).statusCode, 403);
    assert.equal((await h.req({ method: 'GET', url: '/metrics', key: 'wrong-token!' })).statusCode, 403);
    const ok = await h.req({
      method: 'GET',
      url: '/metrics',
      key: 's3cret-token',
      remoteAddress: '203.0.113.9',
    });
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, /^# TYPE atelier_job_duration_seconds summary$/m);
  });
});
