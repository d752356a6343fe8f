// Routes outside tunes/prompts: health, OpenAPI, GET /users, JSON answers for unknown routes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

test('healthz and openapi.json need no key', async () => {
  assert.deepEqual((await h.req({ method: 'GET', url: '/healthz', key: null })).json(), { ok: true });
  const o = await h.req({ method: 'GET', url: '/openapi.json', key: null });
  assert.equal(o.statusCode, 200);
  assert.equal(o.json().openapi, '3.1.0');
  assert.ok(o.json().paths['/tunes/{tune_id}/prompts']);
});

test("GET /users is an object for the key's account", async () => {
  const u = (await h.req({ method: 'GET', url: '/users' })).json();
  assert.equal(typeof u.id, 'number');
  assert.equal(u.name, 'alice');
  assert.ok(!Array.isArray(u));
  assert.equal((await h.req({ method: 'GET', url: '/users', key: null })).statusCode, 401);
});

test('unknown routes answer JSON 404 with a request id; every answer carries x-request-id', async () => {
  const r = await h.req({ method: 'GET', url: '/nope', headers: { accept: 'text/html' } });
  assert.equal(r.statusCode, 404);
  assert.match(String(r.headers['content-type']), /application\/json/);
  assert.equal(r.json().request_id, r.headers['x-request-id']);
});

test('an unexpected error is a generic 500 with a request id and no internals', async () => {
  const dbDestroy = h.rt.svc.db.selectFrom;
  // Simulate a bug deep in a handler: the store throws something that is not an AppError.
  (h.rt.svc.db as unknown as { selectFrom: unknown }).selectFrom = () => {
    throw new TypeError('secret internal detail');
  };
  try {
    const r = await h.req({ method: 'GET', url: '/tunes/1' });
    assert.equal(r.statusCode, 500);
    assert.equal(r.json().error, 'Internal server error');
    assert.ok(!r.body.includes('secret internal detail'));
    assert.ok(r.json().request_id);
  } finally {
    (h.rt.svc.db as unknown as { selectFrom: unknown }).selectFrom = dbDestroy;
  }
});
