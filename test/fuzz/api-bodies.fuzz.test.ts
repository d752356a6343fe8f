// Drives random multipart, form-urlencoded and JSON bodies through the real Fastify app (buildApp via the API test
// harness) and asserts the service never answers 5xx, and always answers JSON. Odd field names, repeated and
// conflicting keys, prototype keys, non-images, truncated images, decompression bombs, garbage multipart framing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { form, type Harness, harness, multipart, trainedTune } from '../api/helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

let h: Harness;
let tuneId: number;
let files: Buffer[];

before(async () => {
  h = await harness();
  tuneId = (await trainedTune(h)).id;
  const jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#c84' } })
    .jpeg()
    .toBuffer();
  const png = await sharp({ create: { width: 16, height: 16, channels: 4, background: '#0f08' } })
    .png()
    .toBuffer();
  files = [
    jpeg,
    png,
    jpeg.subarray(0, Math.floor(jpeg.length / 2)), // truncated
    pngBomb(20000, 20000),
    Buffer.from('hello, I am text renamed .jpg'),
    Buffer.alloc(0),
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 2]), // JPEG magic, nothing else
    Buffer.from('RIFF\0\0\0\0WEBPVP8X'),
  ];
});
after(() => h.close());

function pngBomb(w: number, ht: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type), data, Buffer.alloc(4)]); // CRC left zero: broken on purpose
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(ht, 4);
  ihdr[8] = 8;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(w + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const segment = fc.oneof(
  fc.constantFrom(
    'title',
    'name',
    'branch',
    'images',
    'image_urls',
    'prompts_attributes',
    'characteristics',
    'callback',
    'num_images',
    'text',
    'steps',
    'model_type',
    'token',
    'base_tune_id',
    'face_crop',
    'input_image',
    'mask_image',
    'super_resolution',
    'w',
    'h',
    'seed',
    'cfg_scale',
    'prompt_attributes',
    '',
    '0',
    '1',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 6 }),
);
const fieldName = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom('tune', 'prompt', 'images', 'image_urls', 'steps', 'face_crop', 'text'),
        fc.array(segment, { maxLength: 4 }),
      )
      .map(([head, segs]) => head + segs.map((s) => `[${s}]`).join('')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const textValue = fc.oneof(
  fc.constantFrom(
    '',
    'true',
    'True',
    'false',
    '0',
    '1',
    '-1',
    '4',
    '1e309',
    'NaN',
    '99999999999999999999',
    '3.5',
    'man',
    'fast',
    'sd15',
    'faceid',
    'lora',
    'ohwx man on a beach',
    '<lora:1:0.5> ohwx',
    '{{eye_color}}',
    '{"eye_color":"blue"}',
    'https://example.com/a.jpg',
    'http://169.254.169.254/latest/',
    'ftp://x/y',
    'data:image/jpeg;base64,AAAA',
    `${'x'.repeat(3000)}`,
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
);

type Part = [string, string | { file: number; filename?: string; type?: string }];
const part: fc.Arbitrary<Part> = fc.tuple(
  fieldName,
  fc.oneof(
    { weight: 3, arbitrary: textValue },
    {
      weight: 1,
      arbitrary: fc.record({
        file: fc.nat(7),
        filename: fc.constantFrom('a.jpg', 'upload', 'tune[images][]', 'x.png', undefined),
        type: fc.constantFrom('image/jpeg', 'application/octet-stream', 'text/plain', undefined),
      }),
    },
  ),
);
/** Names from a small per-body pool, so keys repeat and conflict often. */
const parts = fc.array(fieldName, { minLength: 1, maxLength: 5 }).chain((pool) =>
  fc.array(
    fc.tuple(
      fc.constantFrom(...pool),
      part.map((p) => p[1]),
    ),
    { maxLength: 10 },
  ),
) as fc.Arbitrary<Part[]>;
const route = fc.constantFrom(
  '/tunes',
  () => `/tunes/${tuneId}/prompts`,
  '/tunes/1/prompts',
  `/tunes/999999/prompts`,
);

function urlOf(r: string | (() => string)): string {
  return typeof r === 'function' ? r() : r;
}

/** Records a failure instead of throwing, so every run executes and the report lists all distinct problems. */
function check(
  bucket: string[],
  what: string,
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
) {
  const type = String(res.headers['content-type'] ?? '');
  if (res.statusCode >= 500 || !type.includes('application/json')) {
    bucket.push(`${what} → ${res.statusCode} ${type} ${res.body.slice(0, 200)}`);
  }
}

function assertNone(bucket: string[]) {
  assert.deepEqual(bucket.slice(0, 10), [], `${bucket.length} requests answered 5xx or non-JSON`);
}

test('multipart bodies with arbitrary bracket names and files never produce a 5xx', async () => {
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, parts, async (r, ps) => {
      const body = await multipart(
        ps.map(([k, v]): [string, string | { data: Buffer; filename?: string; type?: string }] =>
          typeof v === 'string' ? [k, v] : [k, { data: files[v.file], filename: v.filename, type: v.type }],
        ),
      );
      const url = urlOf(r);
      const res = await h.req({ method: 'POST', url, payload: body.payload, headers: body.headers });
      check(bad, `multipart ${url} ${JSON.stringify(ps).slice(0, 400)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
});

test('valid creates with random extra, repeated or conflicting parts: never a 5xx, and some still succeed', async () => {
  const bad: string[] = [];
  const statuses = new Map<number, number>();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.boolean(), parts, fc.boolean(), async (isTune, extra, extraFirst) => {
      n += 1;
      const base: Part[] = isTune
        ? [
            ['tune[title]', `fuzz-${n}`],
            ['tune[name]', 'man'],
            ['tune[branch]', 'fast'],
            ...[0, 0, 1, 0].map((f): Part => ['tune[images][]', { file: f, filename: 'upload' }]),
          ]
        : [
            ['prompt[text]', 'ohwx man, portrait'],
            ['prompt[num_images]', '1'],
          ];
      const all = extraFirst ? [...extra, ...base] : [...base, ...extra];
      const body = await multipart(
        all.map(([k, v]): [string, string | { data: Buffer; filename?: string; type?: string }] =>
          typeof v === 'string' ? [k, v] : [k, { data: files[v.file], filename: v.filename, type: v.type }],
        ),
      );
      const url = isTune ? '/tunes' : `/tunes/${tuneId}/prompts`;
      const res = await h.req({ method: 'POST', url, payload: body.payload, headers: body.headers });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      check(bad, `multipart ${url} ${JSON.stringify(all).slice(0, 400)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
  // The generator must reach the domain, not only the parser: some requests are accepted, some refused.
  assert.ok((statuses.get(201) ?? 0) > 0, `no request succeeded: ${JSON.stringify([...statuses])}`);
  assert.ok(
    [...statuses.keys()].some((s) => s >= 400),
    `nothing was refused: ${JSON.stringify([...statuses])}`,
  );
});

test('form-urlencoded bodies with arbitrary names never produce a 5xx', async () => {
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, parts, async (r, ps) => {
      const fields = ps.map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : 'file?']);
      const body = form(fields);
      const url = urlOf(r);
      const res = await h.req({ method: 'POST', url, payload: body.payload, headers: body.headers });
      check(bad, `form ${url} ${body.payload.slice(0, 400)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
});

test('raw urlencoded strings (bad escapes, bare keys, =, &&) never produce a 5xx', async () => {
  const raw = fc.stringMatching(/^[a-z[\]%=&+0-9_.\u00e9]{0,60}$/);
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, raw, async (r, payload) => {
      const url = urlOf(r);
      const res = await h.req({
        method: 'POST',
        url,
        payload,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      check(bad, `raw form ${url} ${JSON.stringify(payload)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
});

test('JSON bodies of any shape never produce a 5xx', async () => {
  const wrapped = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({ tune: fc.dictionary(segment, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) }),
    fc.record({ prompt: fc.dictionary(segment, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) }),
    fc.record({
      tune: fc.record({ title: textValue, name: textValue, images: fc.array(textValue, { maxLength: 5 }) }),
    }),
  );
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, wrapped, async (r, value) => {
      const url = urlOf(r);
      const payload = JSON.stringify(value) ?? 'null';
      const res = await h.req({
        method: 'POST',
        url,
        payload,
        headers: { 'content-type': 'application/json' },
      });
      check(bad, `json ${url} ${payload.slice(0, 400)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
});

test('multipart framing errors are 400 malformed_body, not 500', async () => {
  for (const [type, payload] of [
    ['multipart/form-data', ''],
    ['multipart/form-data; boundary=', '--XyZ--\r\n'],
    [
      'multipart/form-data; boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="tune[title]"\r\n\r\nx',
    ],
    ['multipart/form-data; boundary=XyZ', 'not multipart at all'],
  ]) {
    const res = await h.req({ method: 'POST', url: '/tunes', payload, headers: { 'content-type': type } });
    assert.equal(res.statusCode, 400, `${type} ${JSON.stringify(payload)} → ${res.statusCode} ${res.body}`);
    assert.equal(res.json().code, 'malformed_body', res.body);
  }
});

test('broken multipart framing and wrong content types never produce a 5xx', async () => {
  const boundary = 'XyZ';
  const framing = fc.oneof(
    fc.constant(`--${boundary}\r\nContent-Disposition: form-data; name="tune[title]"\r\n\r\nx`), // no closing boundary
    fc.constant(`--${boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${boundary}--\r\n`), // no name
    fc.constant(`--${boundary}\r\n\r\nx\r\n--${boundary}--\r\n`), // no headers
    fc.constant(`--${boundary}\r\nContent-Disposition: form-data; name="a"; filename="f"\r\n\r\n`),
    fc.constant(`--${boundary}--\r\n`),
    fc.constant(''),
    fc.string({ maxLength: 80 }),
    fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  const contentType = fc.constantFrom(
    `multipart/form-data; boundary=${boundary}`,
    'multipart/form-data',
    'multipart/form-data; boundary=',
    'text/plain',
    'application/xml',
    'application/json',
    'application/x-www-form-urlencoded; charset=latin1',
    'image/jpeg',
  );
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(route, framing, contentType, async (r, payload, type) => {
      const url = urlOf(r);
      const res = await h.req({ method: 'POST', url, payload, headers: { 'content-type': type } });
      check(bad, `raw ${type} ${url} ${JSON.stringify(payload).slice(0, 200)}`, res);
    }),
    { numRuns: RUNS },
  );
  assertNone(bad);
});
