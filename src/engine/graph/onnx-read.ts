// Reads initializers out of an ONNX file without onnxruntime (which does not expose them): a minimal protobuf
// walk of ModelProto.graph (field 7) → GraphProto.initializer (field 5) → TensorProto. Field numbers from
// https://github.com/onnx/onnx/blob/main/onnx/onnx.proto, wire format from the protobuf encoding spec.
// Used for inswapper's `emap`, which insightface reads as the graph's last initializer (no node uses it).

import { readFileSync } from 'node:fs';

export interface ReadTensor {
  name: string;
  dims: number[];
  dataType: number;
  data: Float32Array;
}

interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0) */
  value: number;
  /** byte range of a length-delimited field (wire 2) */
  start: number;
  end: number;
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('ONNX file ends inside a varint');
    const b = buf[pos++];
    value += (b & 0x7f) * scale; // multiplication, not shifts: lengths and int64 dims exceed 2^31
    if (!(b & 0x80)) return [value, pos];
    scale *= 128;
  }
  throw new Error('ONNX file has a varint longer than 10 bytes');
}

/** The fields of one message occupying buf[start, end). */
function* fields(buf: Uint8Array, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [key, p] = readVarint(buf, pos);
    pos = p;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [value, q] = readVarint(buf, pos);
      pos = q;
      yield { no, wire, value, start: pos, end: pos };
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      if (q + len > end) throw new Error('ONNX file: a field runs past its message');
      yield { no, wire, value: len, start: q, end: q + len };
      pos = q + len;
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new Error(`ONNX file: unsupported protobuf wire type ${wire}`);
  }
}

function decodeTensor(buf: Uint8Array, start: number, end: number): ReadTensor {
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | null = null;
  const floats: number[] = [];
  let external = false;
  for (const f of fields(buf, start, end)) {
    if (f.no === 1) {
      if (f.wire === 0) dims.push(f.value);
      else
        for (let p = f.start; p < f.end; ) {
          const [d, q] = readVarint(buf, p);
          dims.push(d);
          p = q;
        }
    } else if (f.no === 2) dataType = f.value;
    else if (f.no === 8) name = Buffer.from(buf.subarray(f.start, f.end)).toString('utf8');
    else if (f.no === 9) raw = buf.subarray(f.start, f.end);
    else if (f.no === 4 && f.wire === 2) {
      const view = new DataView(buf.buffer, buf.byteOffset + f.start, f.end - f.start);
      for (let o = 0; o + 4 <= view.byteLength; o += 4) floats.push(view.getFloat32(o, true));
    } else if (f.no === 14 && f.value === 1) external = true;
  }
  if (external)
    throw new Error(`initializer ${name} is stored in an external data file (not supported here)`);
  if (dataType !== 1)
    throw new Error(`initializer ${name} has ONNX data type ${dataType}, expected FLOAT (1)`);
  const count = dims.reduce((a, d) => a * d, 1);
  let data: Float32Array;
  if (raw) {
    if (raw.length !== count * 4)
      throw new Error(`initializer ${name}: ${raw.length} bytes for [${dims.join(',')}]`);
    data = new Float32Array(count);
    new Uint8Array(data.buffer).set(raw);
  } else data = Float32Array.from(floats);
  if (data.length !== count)
    throw new Error(`initializer ${name}: ${data.length} values for [${dims.join(',')}]`);
  return { name, dims, dataType, data };
}

/** The graph's last initializer (a float tensor), as `onnx.load(f).graph.initializer[-1]`. */
export function readLastInitializer(path: string): ReadTensor {
  const buf = readFileSync(path);
  let graph: Field | undefined;
  for (const f of fields(buf, 0, buf.length)) if (f.no === 7 && f.wire === 2) graph = f;
  if (!graph) throw new Error(`${path}: no graph in this ONNX file`);
  let last: Field | undefined;
  for (const f of fields(buf, graph.start, graph.end)) if (f.no === 5 && f.wire === 2) last = f;
  if (!last) throw new Error(`${path}: the graph has no initializers`);
  return decodeTensor(buf, last.start, last.end);
}
