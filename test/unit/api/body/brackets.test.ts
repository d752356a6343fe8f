import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BodyShapeError,
  nestFields,
  parseFieldName,
  type UploadedFile,
} from '../../../../src/api/body/brackets.ts';

/** Deep copy into ordinary objects, so expectations can be written as literals (nestFields uses null prototypes). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function nest(entries: [string, string | UploadedFile][], limits?: { maxDepth?: number; maxKeys?: number }) {
  return plain(nestFields(entries, limits));
}

function file(field: string, name: string): UploadedFile {
  return { kind: 'file', field, filename: name, data: Buffer.from(name) };
}

test('parseFieldName splits a head and bracket groups, [] as null', () => {
  assert.deepEqual(parseFieldName('tune[prompts_attributes][][text]'), {
    head: 'tune',
    segments: ['prompts_attributes', null, 'text'],
  });
  assert.deepEqual(parseFieldName('title'), { head: 'title', segments: [] });
  assert.equal(parseFieldName('a[b'), null);
  assert.equal(parseFieldName('[a]'), null);
  assert.equal(parseFieldName('a[b]c'), null);
});

test('a create-tune multipart body as real clients send it', () => {
  const f1 = file('tune[images][]', 'a.jpg');
  const f2 = file('tune[images][]', 'upload');
  const out = nest([
    ['tune[title]', 'John'],
    ['tune[name]', 'man'],
    ['tune[branch]', ''],
    ['tune[images][]', f1],
    ['tune[images][]', f2],
    ['tune[image_urls][]', 'https://x/1.jpg'],
    ['tune[image_urls][]', 'https://x/2.jpg'],
    ['tune[characteristics][eye_color]', 'blue'],
    ['tune[prompt_attributes][callback]', 'https://cb?x=1&&y=2'],
    ['steps', '400'],
  ]);
  assert.deepEqual(out, {
    tune: {
      title: 'John',
      name: 'man',
      branch: '',
      images: [plain(f1), plain(f2)],
      image_urls: ['https://x/1.jpg', 'https://x/2.jpg'],
      characteristics: { eye_color: 'blue' },
      prompt_attributes: { callback: 'https://cb?x=1&&y=2' },
    },
    steps: '400',
  });
});

test('files are passed through untouched (same object)', () => {
  const f = file('prompt[input_image]', 'x.png');
  const out = nestFields([['prompt[input_image]', f]]) as { prompt: { input_image: UploadedFile } };
  assert.equal(out.prompt.input_image, f);
});

test('prompts_attributes: a new element starts when a key repeats in the last element (CLIENTS.md 10)', () => {
  const out = nest([
    ['tune[prompts_attributes][][text]', 'one'],
    ['tune[prompts_attributes][][num_images]', '2'],
    ['tune[prompts_attributes][][callback]', 'https://cb/1'],
    ['tune[prompts_attributes][][text]', 'two'],
    ['tune[prompts_attributes][][super_resolution]', 'true'],
    ['tune[prompts_attributes][][text]', 'three'],
  ]);
  assert.deepEqual(out, {
    tune: {
      prompts_attributes: [
        { text: 'one', num_images: '2', callback: 'https://cb/1' },
        { text: 'two', super_resolution: 'true' },
        { text: 'three' },
      ],
    },
  });
});

test('any repeated key starts a new element, not only text', () => {
  assert.deepEqual(
    nest([
      ['a[][x]', '1'],
      ['a[][y]', '2'],
      ['a[][y]', '3'],
    ]),
    { a: [{ x: '1', y: '2' }, { y: '3' }] },
  );
});

test('nested groups inside list elements merge until a leaf repeats', () => {
  assert.deepEqual(
    nest([
      ['a[][b][c]', '1'],
      ['a[][b][d]', '2'],
      ['a[][b][c]', '3'],
    ]),
    { a: [{ b: { c: '1', d: '2' } }, { b: { c: '3' } }] },
  );
});

test('a list inside list elements appends to the current element', () => {
  assert.deepEqual(
    nest([
      ['a[][name]', 'p'],
      ['a[][tags][]', 'x'],
      ['a[][tags][]', 'y'],
      ['a[][name]', 'q'],
      ['a[][tags][]', 'z'],
    ]),
    {
      a: [
        { name: 'p', tags: ['x', 'y'] },
        { name: 'q', tags: ['z'] },
      ],
    },
  );
});

test('index notation (qs / PHP http_build_query) becomes an ordered list', () => {
  assert.deepEqual(
    nest([
      ['tune[image_urls][1]', 'b'],
      ['tune[image_urls][0]', 'a'],
      ['tune[prompts_attributes][0][text]', 't0'],
      ['tune[prompts_attributes][0][num_images]', '1'],
      ['tune[prompts_attributes][10][text]', 't10'],
      ['tune[prompts_attributes][2][text]', 't2'],
    ]),
    {
      tune: {
        image_urls: ['a', 'b'],
        prompts_attributes: [{ text: 't0', num_images: '1' }, { text: 't2' }, { text: 't10' }],
      },
    },
  );
  // Not all keys are indexes, or not canonical: stays an object.
  assert.deepEqual(
    nest([
      ['c[0]', 'x'],
      ['c[a]', 'y'],
      ['d[01]', 'z'],
    ]),
    { c: { 0: 'x', a: 'y' }, d: { '01': 'z' } },
  );
});

test('keys without brackets, repeated plain keys (last wins), empty names dropped', () => {
  assert.deepEqual(
    nest([
      ['text', 'a'],
      ['text', 'b'],
      ['', 'ignored'],
      ['tune[title]', 'x'],
      ['tune[title]', 'y'],
    ]),
    { text: 'b', tune: { title: 'y' } },
  );
});

test('malformed names are kept as literal top-level keys', () => {
  assert.deepEqual(
    nest([
      ['a[b', '1'],
      ['x]', '2'],
      ['[y]', '3'],
      ['a[b]c', '4'],
    ]),
    { 'a[b': '1', 'x]': '2', '[y]': '3', 'a[b]c': '4' },
  );
});

test('unicode names and values survive', () => {
  assert.deepEqual(nest([['tüne[tïtle]', '日本 🎨']]), { tüne: { tïtle: '日本 🎨' } });
});

function rejects(
  entries: [string, string][],
  pattern: RegExp,
  limits?: { maxDepth?: number; maxKeys?: number },
) {
  assert.throws(
    () => nestFields(entries, limits),
    (e: unknown) => {
      assert.ok(e instanceof BodyShapeError, `expected BodyShapeError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test('a value then nested fields under the same name is a conflict, in both orders', () => {
  rejects(
    [
      ['a', '1'],
      ['a[b]', '2'],
    ],
    /field "a\[b\]" conflicts with earlier fields: "a" already holds a value, not nested fields/,
  );
  rejects(
    [
      ['a[b]', '2'],
      ['a', '1'],
    ],
    /field "a" conflicts with earlier fields: "a" already holds nested fields/,
  );
});

test('list versus object and list versus value conflicts', () => {
  rejects(
    [
      ['a[]', '1'],
      ['a[b]', '2'],
    ],
    /"a" already holds a list, not nested fields/,
  );
  rejects(
    [
      ['a[b]', '1'],
      ['a[]', '2'],
    ],
    /"a" already holds nested fields, not a list/,
  );
  rejects(
    [
      ['a', '1'],
      ['a[]', '2'],
    ],
    /"a" already holds a value, not a list/,
  );
  rejects(
    [
      ['t[x][][k]', '1'],
      ['t[x][][k][z]', '2'],
      ['t[x][][k][z][]', '3'],
    ],
    /"t\[x\]\[\]\[k\]\[z\]" already holds a value, not a list/,
  );
});

test('a file where nested fields were expected names it', () => {
  assert.throws(
    () =>
      nestFields([
        ['a[b]', file('a[b]', 'f')],
        ['a[b][c]', 'x'],
      ]),
    /"a\[b\]" already holds a file/,
  );
});

test('lists of lists are refused', () => {
  rejects([['a[][]', '1']], /lists of lists/);
});

test('depth limit counts bracket groups', () => {
  const eight = `a${'[x]'.repeat(8)}`;
  assert.doesNotThrow(() => nestFields([[eight, '1']]));
  rejects([[`a${'[x]'.repeat(9)}`, '1']], /nested 9 levels deep; the limit is 8/);
  rejects([['a[b][c]', '1']], /limit is 1/, { maxDepth: 1 });
});

test('key count limit', () => {
  const entries = Array.from({ length: 1001 }, (_, i): [string, string] => [`k${i}`, 'v']);
  rejects(entries, /too many fields: more than 1000/);
  assert.doesNotThrow(() => nestFields(entries.slice(0, 1000)));
  rejects(entries.slice(0, 3), /more than 2/, { maxKeys: 2 });
});

test('prototype keys are refused and nothing reaches Object.prototype', () => {
  for (const name of [
    '__proto__[polluted]',
    'a[__proto__][polluted]',
    'a[constructor][prototype][polluted]',
  ]) {
    rejects([[name, 'yes']], /reserved name/);
  }
  rejects([['prototype', 'x']], /reserved name "prototype"/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('nested objects have no prototype, so inherited names are ordinary keys', () => {
  const out = nestFields([
    ['toString', 'x'],
    ['a[hasOwnProperty]', 'y'],
    ['a[valueOf][]', 'z'],
  ]) as Record<string, Record<string, unknown>>;
  assert.equal(Object.getPrototypeOf(out), null);
  assert.equal(Object.getPrototypeOf(out.a), null);
  assert.deepEqual(plain(out), { toString: 'x', a: { hasOwnProperty: 'y', valueOf: ['z'] } });
});

test('long field names are shortened in messages', () => {
  const long = `a[${'x'.repeat(500)}]`;
  assert.throws(
    () =>
      nestFields([
        ['a', '1'],
        [long, '2'],
      ]),
    (e: unknown) => e instanceof BodyShapeError && e.message.length < 400,
  );
});
