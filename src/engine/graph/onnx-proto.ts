// Encoders for the ONNX protobuf messages the builder needs.
// Ref: https://github.com/onnx/onnx/blob/main/onnx/onnx.proto (field numbers below are from that file)

import { ProtoWriter } from './protobuf.ts';

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Attribute values: plain numbers are INT, `{ f }` FLOAT, number[] INTS, `{ floats }` FLOATS, strings STRING. */
export type Attr = number | number[] | string | { f: number } | { floats: number[] };

export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

export interface TensorSpec {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  raw?: Uint8Array;
  external?: ExternalLocation;
}

export function encodeTensor(t: TensorSpec): ProtoWriter {
  const w = new ProtoWriter();
  if (t.dims.length) w.packedInts(1, t.dims);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.raw) w.bytes(9, t.raw);
  if (t.external) {
    const e = t.external;
    for (const [k, v] of [
      ['location', e.location],
      ['offset', String(e.offset)],
      ['length', String(e.length)],
    ]) {
      w.message(13, new ProtoWriter().string(1, k).string(2, v));
    }
    w.int(14, 1); // data_location = EXTERNAL
  }
  return w;
}

function encodeAttr(name: string, v: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v))
      throw new Error(`attribute ${name}: ${v} is not an integer (wrap floats as { f })`);
    w.int(3, v).int(20, AttrType.INT);
  } else if (typeof v === 'string') w.string(4, v).int(20, AttrType.STRING);
  else if (Array.isArray(v)) w.packedInts(8, v).int(20, AttrType.INTS);
  else if ('f' in v) w.float(2, v.f).int(20, AttrType.FLOAT);
  else w.packedFloats(7, v.floats).int(20, AttrType.FLOATS);
  return w;
}

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs?: Record<string, Attr>;
  domain?: string;
}

export function encodeNode(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, encodeAttr(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** dims: numbers are fixed sizes, strings symbolic (dim_param). */
export interface ValueSpec {
  name: string;
  dataType: DataTypeCode;
  dims: (number | string)[];
}

export function encodeValueInfo(v: ValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, v.dataType).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

export interface ModelSpec {
  graphName: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  opsets: Record<string, number>;
  irVersion: number;
  docString?: string;
}

export function encodeModel(m: ModelSpec): Uint8Array {
  const g = new ProtoWriter();
  for (const n of m.nodes) g.message(1, encodeNode(n));
  g.string(2, m.graphName);
  for (const t of m.initializers) g.message(5, encodeTensor(t));
  for (const v of m.inputs) g.message(11, encodeValueInfo(v));
  for (const v of m.outputs) g.message(12, encodeValueInfo(v));
  const model = new ProtoWriter().int(1, m.irVersion).string(2, 'atelier').string(3, '1');
  if (m.docString) model.string(6, m.docString);
  model.message(7, g);
  for (const [domain, version] of Object.entries(m.opsets)) {
    const op = new ProtoWriter();
    if (domain) op.string(1, domain);
    op.int(2, version);
    model.message(8, op);
  }
  return model.finish();
}
