// Hostile shapes through the real app: deep bracket nesting, duplicated keys, huge and odd numbers, unicode
// (including lone surrogates and RTL marks) in names and values, wrong JSON types, and valid bodies truncated at a
// random byte. Properties: never a 5xx, always JSON, and never a partial write — a refused request changes no row
// count, an accepted create adds exactly its own rows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { dataUrl, form, type Harness, harness, jpeg, multipart, trainedTune } from '../api/helpers.ts';
import { rowCounts } from '../security/counts.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

let h: Harness;
let tuneId: number;
let img: Buffer;

before(async () => {
  h = await harness();
  tuneId = (await trainedTune(h)).id;
  img = await jpeg(32, 32);
});
after(() => h.close());

type Res = Awaited<ReturnType<Harness['req']>>;

/** The rows a create itself writes (generated images and deliveries come from the background worker meanwhile). */
async function ownRows(): Promise<string> {
  const { tunes, tune_images, prompts } = await rowCounts(h);
  return JSON.stringify({ tunes, tune_images, prompts });
}

/** Sends one request and checks the response class and the write discipline; returns a problem or null. */
async function probe(
  what: string,
  req: { url: string; payload: string | Buffer; headers: Record<string, string> },
): Promise<string | null> {
  const before = await rowCounts(h);
  const beforeOwn = await ownRows();
  let res: Res;
  try {
    res = await h.req({ method: 'POST', ...req });
  } catch (e) {
    return `${what}: threw ${(e as Error).message}`;
  }
  const after = await rowCounts(h);
  const type = String(res.headers['content-type'] ?? '');
  if (res.statusCode >= 500 || !type.includes('application/json'))
    return `${what} → ${res.statusCode} ${res.body.slice(0, 160)}`;
  if (res.statusCode >= 400) {
    if (beforeOwn !== (await ownRows()))
      return `${what} → ${res.statusCode} but rows changed ${beforeOwn} → ${await ownRows()}`;
  } else if (req.url === '/tunes' && res.statusCode === 201) {
    if (after.tunes !== before.tunes + 1) return `${what}: 201 but ${after.tunes - before.tunes} tunes added`;
  } else if (res.statusCode === 201 && after.prompts !== before.prompts + 1) {
    return `${what}: 201 but ${after.prompts - before.prompts} prompts added`;
  }
  return null;
}

const hostileText = fc.oneof(
  fc.constantFrom(
    '1e308',
    '-1e308',
    '1e-400',
    '9007199254740993',
    '-0',
    '0x10',
    '١٢٣', // Arabic-Indic digits
    '\u202eevil',
    '\ud800',
    'a\u0000b',
    '😀'.repeat(50),
    ' 4 ',
    '[]',
    '{}',
    'null',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer().map(String),
  fc.double().map(String),
);
const keyHead = fc.constantFrom('tune', 'prompt');
const keySeg = fc.oneof(
  fc.constantFrom('title', 'name', 'text', 'num_images', 'steps', 'seed', 'w', 'h', 'images', 'callback', ''),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const deepKey = fc
  .tuple(keyHead, fc.integer({ min: 0, max: 300 }), keySeg)
  .map(([head, depth, last]) => `${head}${'[a]'.repeat(depth)}[${last}]`);
const anyKey = fc.oneof(
  deepKey,
  fc.tuple(keyHead, fc.array(keySeg, { maxLength: 3 })).map(([k, s]) => k + s.map((x) => `[${x}]`).join('')),
);
const route = fc.constantFrom('/tunes', 'prompt');
const urlOf = (r: string) => (r === 'prompt' ? `/tunes/${tuneId}/prompts` : r);

test('form bodies: deep nesting, duplicated keys, huge numbers, unicode — no 5xx, no partial write', async () => {
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      route,
      fc.array(fc.tuple(anyKey, hostileText), { maxLength: 8 }),
      fc.boolean(),
      async (r, pairs, dup) => {
        const all = dup ? [...pairs, ...pairs] : pairs; // every key twice: conflicting duplicates
        const body = form(all);
        const problem = await probe(`form ${JSON.stringify(all).slice(0, 300)}`, { url: urlOf(r), ...body });
        if (problem) bad.push(problem);
      },
    ),
    { numRuns: RUNS },
  );
  assert.deepEqual(bad.slice(0, 10), []);
});

test('JSON with wrong types and huge numbers in every known field — no 5xx, no partial write', async () => {
  const value = fc.oneof(
    fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 0.5, true, null, [], {}, '', [
      1,
      [2, [3]],
    ]),
    hostileText,
    fc.jsonValue({ maxDepth: 3 }),
  );
  const field = fc.constantFrom(
    'title',
    'name',
    'branch',
    'text',
    'num_images',
    'steps',
    'seed',
    'w',
    'h',
    'cfg_scale',
    'images',
    'image_urls',
    'callback',
    'prompts_attributes',
    'characteristics',
    'model_type',
    'super_resolution',
  );
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, fc.dictionary(field, value, { maxKeys: 6 }), async (r, fields) => {
      const wrapped =
        r === '/tunes'
          ? { tune: { title: `j-${Math.random()}`, ...fields } }
          : { prompt: { text: 'ohwx man', ...fields } };
      const payload = JSON.stringify(wrapped);
      const problem = await probe(`json ${payload.slice(0, 300)}`, {
        url: urlOf(r),
        payload,
        headers: { 'content-type': 'application/json' },
      });
      if (problem) bad.push(problem);
    }),
    { numRuns: RUNS },
  );
  assert.deepEqual(bad.slice(0, 10), []);
});

test('valid multipart and JSON creates truncated at a random byte — no 5xx, no partial write', async () => {
  const tuneMp = await multipart([
    ['tune[title]', 'trunc'],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ...[0, 1, 2, 3].map((): [string, { data: Buffer; filename: string; type: string }] => [
      'tune[images][]',
      { data: img, filename: 'a.jpg', type: 'image/jpeg' },
    ]),
  ]);
  const promptJson = Buffer.from(
    JSON.stringify({
      prompt: { text: 'ohwx man', num_images: 1, input_image_base64: await dataUrl(32, 32) },
    }),
  );
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.boolean(),
      async (isTune, frac, keepLength) => {
        const full = isTune ? tuneMp.payload : promptJson;
        const cut = Math.floor(full.length * frac);
        const payload = full.subarray(0, cut);
        const headers: Record<string, string> = {
          'content-type': isTune ? tuneMp.headers['content-type'] : 'application/json',
        };
        // a declared length larger than what is sent: the body ends early (inject closes it)
        if (keepLength) headers['content-length'] = String(payload.length);
        const url = isTune ? '/tunes' : `/tunes/${tuneId}/prompts`;
        const problem = await probe(`${isTune ? 'multipart' : 'json'} cut at ${cut}/${full.length}`, {
          url,
          payload,
          headers,
        });
        if (problem) bad.push(problem);
      },
    ),
    { numRuns: RUNS },
  );
  assert.deepEqual(bad.slice(0, 10), []);
  // the untruncated body is accepted, so refusals above are about truncation, not a broken fixture
  const whole = await h.req({ method: 'POST', url: '/tunes', ...tuneMp });
  assert.ok([200, 201].includes(whole.statusCode), whole.body);
});
