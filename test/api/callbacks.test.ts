// Callbacks (API.md §4, CLIENTS.md items 30–33) against a loopback receiver (loopback allowed in test config only).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyWebhook } from '../../src/jobs/webhook-signing.ts';
import { getAccount } from '../../src/store/accounts.ts';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  receiver,
  trainedTune,
  waitFor,
} from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

async function secretOf(key: string) {
  const { findActiveKey } = await import('../../src/store/accounts.ts');
  const k = await findActiveKey(h.rt.svc.db, key);
  return (await getAccount(h.rt.svc.db, k!.account_id))!.webhook_secret;
}

test('tune then prompts_attributes callbacks: wrapped bodies, exact URLs, Standard Webhooks headers', async () => {
  const rx = await receiver();
  try {
    const tuneCb = `${rx.base}/hook?user_id=1&&model_id=&webhook_secret=a%2Fb&x=1+2`;
    const promptCb = `${rx.base}/p?prompt=1&tag=%E2%9C%93`;
    const r = await h.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: {
          title: 'cb',
          name: 'man',
          branch: 'fast',
          callback: tuneCb,
          prompts_attributes: [{ text: 'ohwx man', num_images: 2, callback: promptCb }],
        },
        images: [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()],
      },
    });
    assert.equal(r.statusCode, 201, r.body);
    await waitFor(() => rx.got.length >= 2, 'two callbacks');
    const secret = await secretOf(h.keyA);
    const tuneHit = rx.got.find((g) => g.url.startsWith('/hook'))!;
    const promptHit = rx.got.find((g) => g.url.startsWith('/p'))!;
    assert.equal(`${rx.base}${tuneHit.url}`, tuneCb, 'query string kept exactly as given');
    assert.equal(`${rx.base}${promptHit.url}`, promptCb);
    assert.ok(rx.got.indexOf(tuneHit) < rx.got.indexOf(promptHit), 'tune callback first');
    for (const hit of [tuneHit, promptHit]) {
      assert.equal(hit.headers['content-type'], 'application/json');
      assert.match(String(hit.headers['webhook-id']), /^msg_/);
      assert.match(String(hit.headers['webhook-signature']), /^v1,/);
      const headers = Object.fromEntries(Object.entries(hit.headers).map(([k, v]) => [k, String(v)]));
      assert.ok(verifyWebhook(secret, headers, hit.body), 'signature verifies with the account secret');
      assert.ok(!verifyWebhook(secret, headers, `${hit.body} `), 'and fails for a changed body');
    }
    const tuneBody = JSON.parse(tuneHit.body);
    assert.deepEqual(Object.keys(tuneBody), ['tune']);
    assert.equal(tuneBody.tune.id, r.json().id);
    assert.ok(tuneBody.tune.trained_at);
    const promptBody = JSON.parse(promptHit.body);
    assert.deepEqual(Object.keys(promptBody), ['prompt']);
    assert.equal(promptBody.prompt.tune_id, r.json().id);
    assert.equal(promptBody.prompt.images.length, 2);
    assert.equal(promptBody.prompt.status, 'completed');
  } finally {
    await rx.close();
  }
});

test('astria-compat keys get plain URL strings in images, in the API and in callbacks', async () => {
  const rx = await receiver();
  try {
    const t = await trainedTune(h, {}, h.keyCompat);
    const r = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      key: h.keyCompat,
      payload: { prompt: { text: 'ohwx man', num_images: 2, callback: `${rx.base}/compat` } },
    });
    await waitFor(() => rx.got.length >= 1, 'callback');
    const body = JSON.parse(rx.got[0].body);
    assert.equal(body.prompt.images.length, 2);
    for (const u of body.prompt.images) assert.equal(typeof u, 'string');
    const api = (await h.req({ method: 'GET', url: `/prompts/${r.json().id}`, key: h.keyCompat })).json();
    assert.deepEqual(api.images, body.prompt.images);
    for (const u of api.images) {
      assert.match(u, /^http:\/\/atelier\.test\/images\/.+\.jpg$/);
      assert.doesNotMatch(u, /\/prompts\/|\.json|api\.astria\.ai/);
    }
  } finally {
    await rx.close();
  }
});

test('a failing receiver is retried with the same webhook-id until it answers 2xx; other work is not blocked', async () => {
  const rx = await receiver((n) => (n < 3 ? 500 : 204));
  try {
    const t = await trainedTune(h);
    const r = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: { prompt: { text: 'ohwx man', num_images: 1, callback: `${rx.base}/retry` } },
    });
    // Meanwhile another prompt completes normally.
    const other = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: { prompt: { text: 'ohwx man', num_images: 1 } },
    });
    await waitFor(() => rx.got.length >= 3, 'three attempts');
    const ids = new Set(rx.got.map((g) => g.headers['webhook-id']));
    assert.equal(ids.size, 1, 'same webhook-id on every attempt');
    const log = await waitFor(async () => {
      const l = (await h.req({ method: 'GET', url: '/webhook_deliveries' })).json();
      const d = l.find((x: { subject_id: number }) => x.subject_id === r.json().id);
      return d?.status === 'delivered' ? d : null;
    }, 'delivered in the log');
    assert.equal(log.attempts, 3);
    assert.equal(log.last_status, 204);
    assert.equal((await completedPrompt(h, `/prompts/${other.json().id}`)).status, 'completed');
    assert.equal(
      (await h.req({ method: 'GET', url: `/prompts/${r.json().id}` })).json().status,
      'completed',
      'a failing callback never fails the prompt',
    );
    // The log belongs to its owner only.
    assert.deepEqual((await h.req({ method: 'GET', url: '/webhook_deliveries', key: h.keyB })).json(), []);
  } finally {
    await rx.close();
  }
});

test('an unreachable callback host does not fail the prompt; a failed prompt fires its callback with user_error', async () => {
  const rx = await receiver(() => 404);
  const cb = await receiver();
  try {
    const t = await trainedTune(h);
    const dead = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: {
        prompt: { text: 'ohwx man', num_images: 1, callback: 'http://127.0.0.1:1/nothing-listens-here' },
      },
    });
    const failing = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: {
        prompt: {
          text: 'ohwx man',
          num_images: 1,
          input_image_url: `${rx.base}/missing.png`,
          callback: `${cb.base}/f`,
        },
      },
    });
    await waitFor(() => cb.got.length >= 1, 'failure callback');
    const body = JSON.parse(cb.got[0].body);
    assert.equal(body.prompt.status, 'failed');
    assert.match(body.prompt.user_error, /input_image_url.*404/);
    assert.deepEqual(body.prompt.images, []);
    assert.equal(body.prompt.id, failing.json().id);
    const d = await waitFor(async () => {
      const p = (await h.req({ method: 'GET', url: `/prompts/${dead.json().id}` })).json();
      return p.status === 'completed' ? p : null;
    }, 'prompt with dead callback completes');
    assert.equal(d.user_error, null);
  } finally {
    await rx.close();
    await cb.close();
  }
});

test('private callback targets are refused at request time unless the operator allows them', async () => {
  const strict = await harness({ outboundAllowPrivate: false });
  try {
    const r = await strict.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: {
          title: 'x',
          name: 'man',
          branch: 'fast',
          model_type: 'faceid',
          callback: 'http://127.0.0.1:9/cb',
          images: [await dataUrl()],
        },
      },
    });
    assert.equal(r.statusCode, 422, r.body);
    assert.ok(r.json().errors.callback);
    const meta = await strict.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: {
          title: 'y',
          name: 'man',
          branch: 'fast',
          model_type: 'faceid',
          callback: 'http://169.254.169.254/latest',
          images: [await dataUrl()],
        },
      },
    });
    assert.equal(meta.statusCode, 422);
  } finally {
    await strict.close();
  }
});
