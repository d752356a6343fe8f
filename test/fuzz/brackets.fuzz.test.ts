// Property tests for nestFields: whatever the field names, it returns a shape or throws BodyShapeError,
// and never touches Object.prototype.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BodyShapeError, type FormValue, nestFields } from '../../src/api/body/brackets.ts';

const NUM_RUNS = 1500;

const dangerous = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
);
const segmentText = fc.oneof(
  fc.constantFrom('a', 'b', 'text', 'images', '0', '1', '10', '01', ''),
  dangerous,
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
);
/** Mostly well-formed bracket names, sometimes deliberately broken ones. */
const fieldName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(segmentText, fc.array(segmentText, { maxLength: 11 }))
      .map(([h, segs]) => h + segs.map((s) => `[${s}]`).join('')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a[\]]{0,12}$/) },
);
const value: fc.Arbitrary<FormValue> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 4 }).map((b) => ({ kind: 'file' as const, field: 'f', data: Buffer.from(b) })),
);
/** Names drawn from a small pool, so repeats and conflicts are frequent. */
const body = fc
  .array(fieldName, { minLength: 1, maxLength: 6 })
  .chain((pool) => fc.array(fc.tuple(fc.constantFrom(...pool), value), { maxLength: 30 }));

function assertNoPollution() {
  for (const probe of [{}, Object.prototype, Array.prototype]) {
    for (const k of Object.getOwnPropertyNames(probe)) {
      const d = Object.getOwnPropertyDescriptor(probe, k);
      // every own property of the built-in prototypes must still be a function/accessor or the constructor link
      assert.ok(d && (typeof d.value === 'function' || d.get || k === 'length'), `prototype gained ${k}`);
    }
  }
  assert.equal(({} as Record<string, unknown>).a, undefined);
}

/** Every leaf is a string or an UploadedFile, every container an array or a null-prototype object. */
function assertShape(node: unknown, depth: number): void {
  assert.ok(depth <= 10, 'deeper than the depth limit allows');
  if (typeof node === 'string') return;
  if (Array.isArray(node)) {
    for (const x of node) assertShape(x, depth + 1);
    return;
  }
  assert.ok(typeof node === 'object' && node !== null);
  if ((node as { kind?: unknown }).kind === 'file' && Object.getPrototypeOf(node) === Object.prototype)
    return;
  assert.equal(Object.getPrototypeOf(node), null);
  for (const k of Object.keys(node)) {
    assert.ok(!['__proto__', 'constructor', 'prototype'].includes(k), `reserved key ${k} in output`);
    assertShape((node as Record<string, unknown>)[k], depth + 1);
  }
}

test('never throws anything but BodyShapeError; output is well-shaped and prototypes stay clean', () => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(body, (entries) => {
      try {
        const out = nestFields(entries);
        accepted += 1;
        assertShape(out, 0);
      } catch (e) {
        if (!(e instanceof BodyShapeError)) throw e;
        refused += 1;
        assert.ok(e.message.length > 0 && e.message.length < 500);
      }
      assertNoPollution();
    }),
    { numRuns: NUM_RUNS },
  );
  // The generator must exercise both outcomes, or the property says little.
  assert.ok(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}`);
});

test('depth beyond the limit is always refused, within it a single field always nests', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('a', 'b', '', 'é'), { minLength: 0, maxLength: 14 }),
      fc.integer({ min: 0, max: 10 }),
      (segs, maxDepth) => {
        const name = `root${segs.map((s) => `[${s}]`).join('')}`;
        const nestedLists = segs.some((s, i) => s === '' && segs[i + 1] === '');
        try {
          nestFields([[name, 'v']], { maxDepth });
          assert.ok(segs.length <= maxDepth && !nestedLists);
        } catch (e) {
          assert.ok(e instanceof BodyShapeError);
          assert.ok(segs.length > maxDepth || nestedLists, String(e));
        }
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

test('distinct flat keys round-trip exactly', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc
          .string({ minLength: 1, maxLength: 10 })
          .filter((s) => !/[[\]]/.test(s) && !['__proto__', 'constructor', 'prototype'].includes(s)),
        { maxLength: 20 },
      ),
      (keys) => {
        const out = nestFields(keys.map((k): [string, string] => [k, `v:${k}`]));
        assert.deepEqual(Object.keys(out).sort(), [...keys].sort());
        for (const k of keys) assert.equal(out[k], `v:${k}`);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

test('a list of n pushes keeps all n values in order', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 50 }), (vals) => {
      const out = nestFields(vals.map((v): [string, string] => ['tune[image_urls][]', v])) as {
        tune: { image_urls: string[] };
      };
      assert.deepEqual(out.tune.image_urls, vals);
    }),
    { numRuns: 300 },
  );
});
