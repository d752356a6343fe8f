import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { float32ToHalfBits, toFloat32 } from '../../../../src/engine/checkpoint/dtype.ts';
import {
  MAX_HEADER_BYTES,
  SafetensorsFile,
  writeRawSafetensors,
  writeSafetensors,
} from '../../../../src/engine/checkpoint/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `f${n++}.safetensors`);

describe('safetensors round trip', () => {
  it('writes and reads F32, F16, BF16 and I64 tensors with metadata', () => {
    const p = file();
    const f32 = Float32Array.from([1.5, -2, 0, 3.25e-3, 65504, -1e-7]);
    const f16 = new Uint16Array(Array.from(f32, (v) => float32ToHalfBits(v)));
    const bf16 = new Uint16Array(
      Array.from(f32, (v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16),
    );
    const i64 = BigInt64Array.from([1n, -7n, 49407n]);
    writeSafetensors(
      p,
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: f32 },
        { name: 'h', dtype: 'F16', shape: [6], data: new Uint8Array(f16.buffer) },
        { name: 'b', dtype: 'BF16', shape: [3, 2], data: new Uint8Array(bf16.buffer) },
        { name: 'ids', dtype: 'I64', shape: [1, 3], data: new Uint8Array(i64.buffer) },
      ],
      { format: 'pt' },
    );
    const st = SafetensorsFile.open(p);
    try {
      assert.deepEqual(st.metadata, { format: 'pt' });
      assert.deepEqual(st.names().sort(), ['a', 'b', 'h', 'ids']);
      assert.deepEqual(st.info('a').shape, [2, 3]);
      assert.deepEqual(Array.from(st.readFloat32('a')), Array.from(f32));
      assert.deepEqual(
        Array.from(st.readFloat32('h')),
        [1.5, -2, 0, 0.0032501220703125, 65504, -1.1920928955078125e-7],
      );
      // bf16 keeps the upper 16 bits of the float32 pattern (the writer above truncated)
      const truncated = new Float32Array(
        new Uint32Array(bf16.buffer.byteLength / 2).map((_, i) => bf16[i] << 16).buffer,
      );
      assert.deepEqual(Array.from(st.readFloat32('b')), Array.from(truncated));
      assert.deepEqual(Array.from(st.readFloat32('b')).slice(0, 3), [1.5, -2, 0]);
      assert.deepEqual(Array.from(st.readFloat32('ids')), [1, -7, 49407]);
    } finally {
      st.close();
    }
  });

  it('reads the fixture checkpoint lazily (header only on open)', async () => {
    const { fixturePath } = await import('../../../helpers/fixtures.ts');
    const st = SafetensorsFile.open(
      fixturePath('sd-reference', 'checkpoint', 'tiny-sd15-public.safetensors'),
    );
    try {
      assert.equal(st.size, 21989672);
      assert.ok(st.headerBytes.byteLength < st.size / 10);
      const w = st.readFloat32('model.diffusion_model.input_blocks.0.0.weight');
      assert.equal(w.length, 32 * 4 * 3 * 3);
      assert.ok(w.every(Number.isFinite));
    } finally {
      st.close();
    }
  });
});

describe('float16 conversion', () => {
  it('converts every half bit pattern back to itself (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = toFloat32(new Uint8Array(all.buffer), 'F16');
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(f[h])) assert.equal((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, true);
      else assert.equal(float32ToHalfBits(f[h]), h, `half 0x${h.toString(16)}`);
    }
    assert.equal(f[0x0001], 2 ** -24); // smallest subnormal
    assert.equal(f[0x7c00], Number.POSITIVE_INFINITY);
    assert.ok(Object.is(f[0x8000], -0));
  });

  it('rounds float32 to the nearest half (property)', () => {
    const halves = toFloat32(new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer), 'F16');
    fc.assert(
      fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
        const h = halves[float32ToHalfBits(x)];
        const err = Math.abs(h - Math.fround(x));
        // no other finite half is closer
        const up = halves[float32ToHalfBits(x) + 1];
        return !(Math.abs(up - x) < err);
      }),
    );
  });
});

/** Writes an 8-byte header length followed by the given header bytes and data. */
function raw(header: string, data = new Uint8Array(0), declared?: bigint): string {
  const p = file();
  writeRawSafetensors(p, header, [data], declared);
  return p;
}

describe('safetensors header validation (one case per failure)', () => {
  const cases: [string, () => string, RegExp][] = [
    [
      'truncated file',
      () => {
        const p = file();
        writeFileSync(p, Buffer.from([1, 2, 3]));
        return p;
      },
      /truncated: 3 bytes/,
    ],
    [
      'header length beyond the file',
      () => raw('{}', new Uint8Array(0), 4096n),
      /header length 4096 goes beyond the end of the file/,
    ],
    [
      'header over 100 MB',
      () => raw('{}', new Uint8Array(0), BigInt(MAX_HEADER_BYTES + 1)),
      /exceeds the 104857600-byte limit/,
    ],
    ['header not JSON', () => raw('{"a": '), /not valid UTF-8 JSON/],
    ['header not an object', () => raw('[1,2]'), /not a JSON object/],
    [
      'unknown dtype',
      () => raw('{"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(8)),
      /tensor x: unknown dtype "F8"/,
    ],
    [
      'negative dim',
      () => raw('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', new Uint8Array(8)),
      /shape must be/,
    ],
    [
      'offsets out of range',
      () => raw('{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', new Uint8Array(8)),
      /go beyond the data section \(8 bytes\)/,
    ],
    [
      'reversed offsets',
      () => raw('{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}', new Uint8Array(8)),
      /reversed/,
    ],
    [
      'shape / byte size mismatch',
      () => raw('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)),
      /F32\[3\] needs 12 bytes but data_offsets span 8/,
    ],
    [
      'overlapping tensors',
      () =>
        raw(
          '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
          new Uint8Array(16),
        ),
      /tensors x and y have overlapping data ranges/,
    ],
    ['bad metadata', () => raw('{"__metadata__":{"a":1}}'), /__metadata__.a is not a string/],
  ];
  for (const [name, make, message] of cases) {
    it(`rejects: ${name}`, () => {
      const p = make();
      assert.throws(
        () => SafetensorsFile.open(p),
        (e: Error) => {
          assert.equal(e.name, 'SafetensorsError');
          assert.match(e.message, message);
          assert.ok(e.message.startsWith(p), 'message names the file');
          return true;
        },
      );
    });
  }

  it('refuses to write a tensor whose bytes do not match its shape', () => {
    assert.throws(
      () => writeSafetensors(file(), [{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }]),
      /8 bytes, expected 12/,
    );
  });
});
