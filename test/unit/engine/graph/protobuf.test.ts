import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtoWriter } from '../../../../src/engine/graph/protobuf.ts';

const hex = (w: ProtoWriter) => Buffer.from(w.finish()).toString('hex');

describe('protobuf wire encoding (examples from the protobuf encoding guide)', () => {
  it('encodes varints', () => {
    assert.equal(hex(new ProtoWriter().int(1, 150)), '089601');
    assert.equal(hex(new ProtoWriter().int(1, 0)), '0800');
    assert.equal(hex(new ProtoWriter().int(2, 2 ** 35)), '10808080808001');
  });
  it("encodes negative int64 as ten bytes of two's complement", () => {
    assert.equal(hex(new ProtoWriter().int(1, -1)), '08ffffffffffffffffff01');
    assert.equal(hex(new ProtoWriter().int(1, -2n)), '08feffffffffffffffff01');
  });
  it('encodes strings, nested messages and packed repeated fields', () => {
    assert.equal(hex(new ProtoWriter().string(2, 'testing')), '120774657374696e67');
    assert.equal(hex(new ProtoWriter().message(3, new ProtoWriter().int(1, 150))), '1a03089601');
    assert.equal(hex(new ProtoWriter().packedInts(4, [3, 270, 86942])), '2206038e029ea705');
  });
  it('encodes float32 little-endian', () => {
    assert.equal(hex(new ProtoWriter().float(2, 1)), '150000803f');
  });
  it('grows its buffer for large payloads', () => {
    const big = new Uint8Array(100_000).fill(7);
    const out = new ProtoWriter().bytes(9, big).finish();
    assert.equal(out.byteLength, 100_000 + 1 + 3);
    assert.equal(out[out.length - 1], 7);
  });
});
