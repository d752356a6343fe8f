// Authentication on every route the app registers (read from Fastify's own route table, so a route added later
// without auth fails this test): no key, a malformed header, a revoked key → 401; another account's key on
// account-scoped objects → 404 (never the object, never a 403 that confirms it exists). Only an explicit
// allowlist of routes is public.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiKey } from '../../src/domain/keys.ts';
import { revokeApiKey } from '../../src/store/accounts.ts';
import { completedPrompt, type Harness, harness, trainedTune } from '../api/helpers.ts';

/** Routes reachable without a key: health, the OpenAPI document, signed image and weights links, metrics. */
const PUBLIC = new Set([
  'GET /healthz',
  'GET /openapi',
  'GET /openapi.json',
  'GET /images/:id/:expires/:file',
  'GET /tune-images/:id/:expires/:file',
  'GET /tune-weights/:id/:expires/:file',
  'GET /metrics',
]);

interface Route {
  method: string;
  path: string;
}

/** Flattens `printRoutes({ commonPrefix: false })`: each line is a path segment indented by depth, then methods. */
export function registeredRoutes(tree: string): Route[] {
  const out: Route[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)(?:├── |└── )(\S+) \(([^)]+)\)/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    const segment = m[2].replace(/:(\w+)\|:\w+/g, ':$1'); // "/:id|:tune_id": one route, two param names
    stack.push(segment);
    for (const method of m[3].split(', ')) if (method !== 'HEAD') out.push({ method, path: stack.join('') });
  }
  return out;
}

let h: Harness;
let revokedKey: string;
let ids: Record<string, string>;

before(async () => {
  h = await harness();
  const created = await createApiKey(h.rt.svc.db, { account: 'carol' });
  revokedKey = created.key;
  assert.equal(await revokeApiKey(h.rt.svc.db, String(created.row.id)), 1);
  const tune = await trainedTune(h);
  const p = await h.req({
    method: 'POST',
    url: `/tunes/${tune.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  const prompt = await completedPrompt(h, `/prompts/${p.json().id}`);
  ids = {
    ':id': String(prompt.id),
    ':tune_id': String(tune.id),
    ':slug': 'headshots',
    ':expires': '1',
    ':file': 'x.jpg',
  };
  ids.tune = String(tune.id);
});
after(() => h.close());

function concrete(r: Route): string {
  // under /tunes the first :id is the tune's, under /prompts it is the prompt's
  let path = r.path;
  if (path.startsWith('/tunes/:id')) path = path.replace(':id', ids.tune);
  return path.replace(/:\w+/g, (p) => ids[p] ?? '1');
}

test('the route table is read (guards the parser against a Fastify output change)', () => {
  const routes = registeredRoutes(h.app.printRoutes({ commonPrefix: false }));
  const keys = routes.map((r) => `${r.method} ${r.path}`);
  for (const k of ['POST /tunes', 'GET /tunes/:id/prompts/:id', 'GET /prompts', 'DELETE /prompts/:id'])
    assert.ok(keys.includes(k), `${k} in ${keys.join(', ')}`);
});

test('every non-public route answers 401 with no key, a malformed header and a revoked key', async () => {
  const routes = registeredRoutes(h.app.printRoutes({ commonPrefix: false }));
  const bad: string[] = [];
  for (const r of routes) {
    const name = `${r.method} ${r.path}`;
    if (PUBLIC.has(name)) continue;
    for (const [label, headers] of [
      ['no key', {}],
      ['malformed', { authorization: 'Bearer' }],
      ['basic scheme', { authorization: `Basic ${Buffer.from(`${h.keyA}:`).toString('base64')}` }],
      ['revoked', { authorization: `Bearer ${revokedKey}` }],
      ['unknown', { authorization: `Bearer ${h.keyA}x` }],
    ] as const) {
      const res = await h.req({
        method: r.method as 'GET',
        url: concrete(r),
        key: null,
        headers,
        ...(r.method !== 'GET' && r.method !== 'DELETE' && { payload: {} }),
      });
      if (res.statusCode !== 401 || res.json().code !== 'unauthorized')
        bad.push(`${name} (${label}) → ${res.statusCode} ${res.body.slice(0, 100)}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('public routes really are public (the allowlist is not stale)', async () => {
  const routes = registeredRoutes(h.app.printRoutes({ commonPrefix: false }));
  for (const r of routes.filter((x) => PUBLIC.has(`${x.method} ${x.path}`))) {
    const res = await h.req({ method: r.method as 'GET', url: concrete(r), key: null });
    assert.notEqual(res.statusCode, 401, `${r.method} ${r.path}`);
  }
});

test("another account's key: account A's tune and prompt are 404 on every route that names them", async () => {
  const routes = registeredRoutes(h.app.printRoutes({ commonPrefix: false })).filter(
    (r) => /^\/(tunes|prompts)\/:id/.test(r.path) && !PUBLIC.has(`${r.method} ${r.path}`),
  );
  assert.ok(routes.length >= 8, `found ${routes.length} object routes`);
  const bad: string[] = [];
  for (const r of routes) {
    const res = await h.req({
      method: r.method as 'GET',
      url: concrete(r),
      key: h.keyB,
      ...(r.method !== 'GET' &&
        r.method !== 'DELETE' && { payload: { prompt: { text: 'x' }, tune: { title: 'x' } } }),
    });
    if (res.statusCode !== 404)
      bad.push(`${r.method} ${concrete(r)} → ${res.statusCode} ${res.body.slice(0, 100)}`);
  }
  assert.deepEqual(bad, []);
  // and A's objects are untouched after B's attempts (DELETE, PATCH, cancel)
  const t = await h.req({ method: 'GET', url: `/tunes/${ids.tune}` });
  assert.equal(t.statusCode, 200);
  const p = await h.req({ method: 'GET', url: `/prompts/${ids[':id']}` });
  assert.equal(p.statusCode, 200);
  assert.equal(p.json().status, 'completed');
});

test("B's lists never show A's objects", async () => {
  for (const url of ['/tunes', '/prompts', `/tunes/${ids.tune}/prompts`]) {
    const res = await h.req({ method: 'GET', url, key: h.keyB });
    if (res.statusCode === 404) continue; // A's tune is not visible to B at all
    assert.equal(res.statusCode, 200, `${url} ${res.body}`);
    const items = res.json() as { id: number }[];
    assert.ok(Array.isArray(items));
    assert.ok(!items.some((i) => String(i.id) === ids.tune || String(i.id) === ids[':id']), url);
  }
});
