// The served OpenAPI document against the real server: it covers every route the app registers (and nothing it
// lacks), it is served without a key, its examples validate, and real responses recorded through a full tune →
// prompt flow (native and astria-compat keys, errors included) validate against it with no undocumented field.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify, { type LightMyRequestResponse } from 'fastify';
import { NON_API_PATH_PREFIXES, NON_API_PATHS, OPERATIONS } from '../../src/openapi/operations.ts';
import { documentFor, openapiPlugin } from '../../src/openapi/plugin.ts';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  jpeg,
  multipart,
  receiver,
  waitFor,
} from '../api/helpers.ts';
import { DocValidator, type Json, registeredRoutes, shapeOf } from './validator.ts';

let h: Harness;
let v: DocValidator;
before(async () => {
  h = await harness();
  // the served document describes this installation's conditioning types (the controlnet description)
  v = new DocValidator(documentFor(h.app, h.config.publicBaseUrl, await h.rt.svc.engines.conditioning?.()));
});
after(() => h.close());

const isApiRoute = (path: string) =>
  !NON_API_PATHS.has(path) && !NON_API_PATH_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));

test('openapiPlugin serves the document at /openapi.json and /openapi, as OpenAPI 3.1 with the base URL', async () => {
  const app = Fastify();
  await app.register(openapiPlugin, { baseUrl: 'http://atelier.test' });
  try {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const doc = res.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.servers[0].url, 'http://atelier.test');
    assert.deepEqual((await app.inject({ method: 'GET', url: '/openapi' })).json(), doc);
    // A bare app has no event streams: the optional operations are left out.
    assert.equal(doc.paths['/prompts/{id}/events'], undefined);
  } finally {
    await app.close();
  }
});

test('buildApp serves this document at /openapi.json without an API key', async () => {
  const res = await h.req({ method: 'GET', url: '/openapi.json', key: null });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), v.doc);
});

test('every route the server registers is in the document', () => {
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries<Record<string, unknown>>(v.doc.paths))
    for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${shapeOf(path)}`);
  const routes = registeredRoutes(h.app).filter((r) => r.method !== 'HEAD' && isApiRoute(r.path));
  assert.ok(routes.length >= 20, `parsed only ${routes.length} routes`);
  const missing = routes.map((r) => `${r.method} ${r.shape}`).filter((k) => !documented.has(k));
  assert.deepEqual(missing, [], 'registered but not documented');
});

test('every documented operation exists on the server; optional event streams only when present', () => {
  const registered = new Set(registeredRoutes(h.app).map((r) => `${r.method} ${r.shape}`));
  for (const op of OPERATIONS) {
    const key = `${op.method.toUpperCase()} ${shapeOf(op.path)}`;
    const inDoc = Boolean(v.doc.paths[op.path]?.[op.method]);
    assert.equal(
      inDoc,
      registered.has(key),
      `${key}: in document ${inDoc}, registered ${registered.has(key)}`,
    );
  }
  for (const op of OPERATIONS.filter((o) => !o.path.endsWith('/events')))
    assert.ok(v.doc.paths[op.path]?.[op.method], `${op.operationId} must be documented`);
});

test('request schemas come from the domain schemas: ranges, enums, required fields, descriptions', () => {
  const p = v.doc.components.schemas.PromptCreate;
  assert.deepEqual(p.required, ['text']);
  assert.deepEqual([p.properties.num_images.minimum, p.properties.num_images.maximum], [1, 8]);
  assert.equal(p.properties.cfg_scale.maximum, 15);
  assert.equal(p.properties.seed.maximum, 2 ** 32 - 1);
  assert.ok(p.properties.scheduler.enum.includes('dpm++sde_karras'));
  assert.ok(p.properties.style.enum.includes('Fantasy art'));
  assert.match(p.properties.text.description, /trigger word/);
  assert.equal(p.properties.input_image.format, 'binary');
  assert.equal(v.doc.components.schemas.PromptCreateJson.properties.input_image, undefined);
  const t = v.doc.components.schemas.TuneCreate;
  assert.deepEqual(t.required, ['title', 'name']);
  assert.ok(t.properties.branch.enum.includes('fast'));
  const form = v.doc.paths['/tunes'].post.requestBody.content['multipart/form-data'].schema;
  assert.equal(form.properties['tune[images][]'].items.format, 'binary');
  assert.ok(form.properties['tune[prompts_attributes][][text]']);
  assert.deepEqual(form.required, ['tune[title]', 'tune[name]']);
  // Unknown fields are ignored by the API, so no schema may forbid them.
  assert.ok(!JSON.stringify(v.doc).includes('"additionalProperties":false'));
});

test('every example in the document validates against its schema (request and response)', () => {
  let checked = 0;
  for (const [path, ops] of Object.entries<Json>(v.doc.paths))
    for (const [method, op] of Object.entries<Json>(ops)) {
      const media = [
        ...Object.entries<Json>(op.requestBody?.content ?? {}),
        ...Object.values<Json>(op.responses).flatMap((r) => Object.entries<Json>(r.content ?? {})),
      ];
      for (const [type, m] of media)
        for (const [name, ex] of Object.entries<Json>(m.examples ?? {})) {
          const errors = v.check(m.schema, ex.value);
          assert.deepEqual(errors, [], `${method} ${path} ${type} example ${name}`);
          checked++;
        }
    }
  assert.ok(checked >= 10, `only ${checked} examples`);
});

test('the validator rejects a response that breaks the schema', () => {
  const prompt = v.doc.paths['/prompts/{id}'].get.responses[200].content['application/json'].schema;
  const good =
    v.doc.paths['/prompts/{id}'].get.responses[200].content['application/json'].examples.seed.value;
  assert.deepEqual(v.check(prompt, good), []);
  assert.notDeepEqual(v.check(prompt, { ...good, id: '1' }), []);
  assert.notDeepEqual(v.check(prompt, { ...good, status: 'done' }), []);
  assert.notDeepEqual(v.check(prompt, { ...good, images: null }), []);
  const { seed: _seed, ...withoutSeed } = good;
  assert.notDeepEqual(v.check(prompt, withoutSeed), []);
});

/** Fields of an object that its component schema does not list (presenter drift). */
function undocumented(schemaName: string, value: unknown): string[] {
  if (!value || typeof value !== 'object') return [];
  const props = v.doc.components.schemas[schemaName].properties;
  return Object.keys(value).filter((k) => !(k in props));
}

const RESPONSE_COMPONENT: Record<string, string> = {
  Tune: 'Tune',
  Prompt: 'Prompt',
  User: 'User',
  WebhookDelivery: 'WebhookDelivery',
  Error: 'Error',
  Pack: 'Pack',
  Inspection: 'Inspection',
  Conditioning: 'Conditioning',
};

test('recorded responses of a full flow validate against the document', async () => {
  const recorded: Recorded[] = [];
  const call = async (method: string, url: string, opts: Parameters<Harness['req']>[0] = {} as never) => {
    const res = await h.req({ ...opts, method: method as 'GET', url });
    recorded.push({ method, url, res });
    return res;
  };
  const cb = await receiver();
  try {
    await call('GET', '/healthz', { key: null } as never);
    await call('GET', '/users');
    await call('GET', '/conditioning');
    const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
    const t = (
      await call('POST', '/tunes', {
        payload: {
          tune: { title: 'openapi flow', name: 'man', branch: 'fast', callback: `${cb.base}/t` },
          images,
        },
      } as never)
    ).json();
    await call('POST', '/tunes', {
      payload: { tune: { title: 'openapi flow', name: 'man' }, images },
    } as never);
    const files = await multipart([
      ['tune[title]', 'openapi multipart'],
      ['tune[name]', 'woman'],
      ['tune[branch]', 'fast'],
      ...(await Promise.all(
        [0, 1, 2, 3].map(
          async () => ['tune[images][]', { data: await jpeg() }] as [string, { data: Buffer }],
        ),
      )),
    ]);
    await call('POST', '/tunes', files as never);
    await call('POST', '/tunes', {
      payload: { tune: { title: 'no images', name: 'man', branch: 'fast' } },
    } as never);
    await call('POST', '/tunes', { payload: { tune: { name: 'man', branch: 'nope' } } } as never);
    await call('GET', '/tunes');
    await call('GET', '/tunes?offset=100000');
    await call('PATCH', `/tunes/${t.id}`, {
      payload: { tune: { characteristics: { eye_color: 'blue' } } },
    } as never);
    await call('PUT', `/tunes/${t.id}.json`, { payload: { tune: { name: 'man' } } } as never);
    await call('GET', `/tunes/${t.id}`, { key: h.keyB } as never);
    await call('GET', '/tunes', { key: 'sd_wrong' } as never);
    const trained = await waitFor(async () => {
      const r = await call('GET', `/tunes/${t.id}`);
      return r.json().trained_at ? r.json() : null;
    }, 'tune trained');
    assert.equal(trained.status, 'trained');

    const p = (
      await call('POST', `/tunes/${t.id}/prompts`, {
        payload: {
          prompt: { text: 'ohwx man, studio light', num_images: 2, callback: `${cb.base}/p`, seed: 7 },
        },
      } as never)
    ).json();
    await call('POST', `/tunes/${t.id}/prompts`, {
      payload: { prompt: { text: 'no trigger', cfg_scale: 99 } },
    } as never);
    const form = await multipart([
      ['prompt[text]', 'a painting of ohwx man in the style of Van Gogh'],
      ['prompt[negative_prompt]', 'old, blemish, wrinkles, mole'],
      ['prompt[super_resolution]', 'true'],
      ['prompt[face_correct]', 'true'],
      ['prompt[w]', '320'],
      ['prompt[h]', '256'],
      ['prompt[input_image]', { data: await jpeg() }],
    ]);
    await call('POST', `/tunes/${t.id}/prompts`, form as never);
    await completedPrompt(h, `/prompts/${p.id}`);
    await call('GET', `/prompts/${p.id}`);
    await call('GET', `/tunes/${t.id}/prompts/${p.id}.json`);
    await call('GET', `/prompts/${p.id}`, { key: h.keyCompat } as never);
    await call('GET', `/tunes/${t.id}/prompts?limit=5`);
    await call('GET', `/prompts?tune_id=${t.id}`, { key: h.keyCompat } as never);
    const q = (
      await call('POST', `/tunes/${t.id}/prompts`, { payload: { prompt: { text: 'ohwx man' } } } as never)
    ).json();
    await call('POST', `/prompts/${q.id}/cancel`);
    await call('DELETE', `/tunes/${t.id}/prompts/${q.id}`);
    await call('GET', `/prompts/${q.id}`);
    await waitFor(async () => {
      const d = (await h.req({ method: 'GET', url: '/webhook_deliveries' })).json();
      return d.some((x: { status: string }) => x.status === 'delivered');
    }, 'a delivered callback');
    await call('GET', '/webhook_deliveries');
    await call('DELETE', `/tunes/${t.id}`);
    await call('DELETE', `/prompts/${p.id}`);
  } finally {
    await cb.close();
  }

  const statuses = checkRecorded(recorded);
  for (const s of [200, 201, 400, 401, 404, 422]) assert.ok(statuses.has(s), `flow never produced ${s}`);
});

type Recorded = { method: string; url: string; res: LightMyRequestResponse };

/** Each recorded answer must be documented for its status and validate strictly; returns the statuses seen. */
function checkRecorded(recorded: Recorded[]): Set<number> {
  const statuses = new Set<number>();
  for (const { method, url, res } of recorded) {
    statuses.add(res.statusCode);
    const schema = v.responseSchema(method, url, res.statusCode);
    assert.ok(schema, `${method} ${url} → ${res.statusCode} is not documented (${res.body.slice(0, 200)})`);
    const body = res.json();
    assert.deepEqual(v.check(schema, body), [], `${method} ${url} → ${res.statusCode}`);
    const name = /#\/components\/schemas\/(\w+)$/.exec(schema.$ref ?? schema.items?.$ref ?? '')?.[1];
    if (name && RESPONSE_COMPONENT[name])
      for (const item of Array.isArray(body) ? body : [body])
        assert.deepEqual(undocumented(name, item), [], `${method} ${url}: fields missing from ${name}`);
  }
  return statuses;
}

test('recorded responses of packs, inspect and prompt actions validate against the document', async () => {
  const recorded: Recorded[] = [];
  const call = async (method: string, url: string, opts: Parameters<Harness['req']>[0] = {} as never) => {
    const res = await h.req({ ...opts, method: method as 'GET', url });
    recorded.push({ method, url, res });
    return res;
  };
  const pack = (
    await call('POST', '/packs', {
      payload: {
        pack: {
          title: 'OpenAPI portraits',
          prompts: { man: ['ohwx man, window light', { text: 'ohwx man in a coat', num_images: 2 }] },
        },
      },
    } as never)
  ).json();
  assert.equal(pack.slug, 'openapi-portraits');
  await call('POST', '/packs', { payload: { pack: { title: '' } } } as never);
  await call('GET', '/packs');
  await call('GET', '/gallery/packs');
  await call('GET', `/p/${pack.slug}`);
  await call('GET', '/p/no-such-pack');
  const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
  const run = await call('POST', `/p/${pack.slug}/tunes`, {
    payload: { tune: { title: 'openapi pack run', name: 'man', branch: 'fast' }, images },
  } as never);
  assert.equal(run.statusCode, 201, run.body);
  await call('POST', `/p/${pack.slug}/tunes`, {
    payload: { tune: { title: 'openapi pack run', name: 'man', branch: 'fast' }, images },
  } as never);

  await call(
    'POST',
    '/images/inspect',
    (await multipart([
      ['name', 'man'],
      ['file', { data: await jpeg() }],
    ])) as never,
  );
  await call('POST', '/images/inspect', (await multipart([['file', { data: await jpeg() }]])) as never);

  const tuneId = run.json().id;
  const p = await waitFor(async () => {
    const list = (await h.req({ method: 'GET', url: `/tunes/${tuneId}/prompts` })).json();
    return list.length === 2 ? list[0] : null;
  }, 'the pack prompts');
  await call('POST', `/prompts/${p.id}/likes`);
  await call('GET', `/prompts?liked=true`);
  await call('DELETE', `/prompts/${p.id}/likes`);
  const copy = (
    await call('POST', `/prompts/${p.id}/duplicate`, { payload: { prompt: { num_images: 1 } } } as never)
  ).json();
  await call('PATCH', `/prompts/${copy.id}`, { payload: { prompt: { liked: true } } } as never);
  await call('PATCH', `/tunes/${tuneId}/prompts/${copy.id}`, {
    payload: { prompt: { cfg_scale: 99 } },
  } as never);
  await completedPrompt(h, `/prompts/${copy.id}`);
  await call('PATCH', `/prompts/${copy.id}`, { payload: { prompt: { text: 'ohwx man again' } } } as never);

  const statuses = checkRecorded(recorded);
  for (const s of [200, 201, 404, 409, 422]) assert.ok(statuses.has(s), `flow never produced ${s}`);
  const liked = recorded.find((r) => r.method === 'POST' && r.url.endsWith('/likes'));
  assert.equal(liked?.res.json().liked, true);
  const inspected = recorded.find((r) => r.url === '/images/inspect' && r.res.statusCode === 200);
  assert.equal(typeof inspected?.res.json().blur_score, 'number');
});
