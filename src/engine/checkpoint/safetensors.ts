// safetensors reader and writer.
// Ref: https://github.com/huggingface/safetensors#format
// Layout: u64 little-endian header size N, N bytes of JSON header
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {string: string} },
// then the byte buffer; offsets are relative to the start of that buffer.
// The reader keeps a file descriptor and reads each tensor with a positioned read when asked,
// so a multi-GB checkpoint is never loaded whole.

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { DTYPE_BYTES, type Dtype, isDtype, toFloat32 } from './dtype.ts';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** absolute byte range in the file */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: invalid safetensors file: ${message}`);
    this.name = 'SafetensorsError';
  }
}

if (endianness() !== 'LE') throw new Error('safetensors reader assumes a little-endian host');

/** Parses and validates a header; `fileSize` is the total size of the file. Exported for tests. */
export function parseHeader(
  path: string,
  headerBytes: Uint8Array,
  fileSize: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (m: string) => new SafetensorsError(path, m);
  const dataStart = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataStart;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw fail('header is not a JSON object');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw fail(`__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (raw === null || typeof raw !== 'object') throw fail(`entry ${name} is not an object`);
    const { dtype, shape, data_offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) throw fail(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor ${name}: shape must be an array of non-negative integers`);
    }
    if (
      !Array.isArray(data_offsets) ||
      data_offsets.length !== 2 ||
      !data_offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw fail(`tensor ${name}: data_offsets must be two non-negative integers`);
    }
    const [b, e] = data_offsets as [number, number];
    if (b > e) throw fail(`tensor ${name}: data_offsets [${b}, ${e}] are reversed`);
    if (e > dataSize) {
      throw fail(`tensor ${name}: data_offsets [${b}, ${e}] go beyond the data section (${dataSize} bytes)`);
    }
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    const expected = count * DTYPE_BYTES[dtype];
    if (e - b !== expected) {
      throw fail(
        `tensor ${name}: ${dtype}[${shape.join(',')}] needs ${expected} bytes but data_offsets span ${e - b}`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...tensors.entries()].sort((x, y) => x[1].begin - y[1].begin || x[1].end - y[1].end);
  for (let i = 1; i < sorted.length; i++) {
    const [pn, p] = sorted[i - 1];
    const [cn, c] = sorted[i];
    if (c.begin < p.end) throw fail(`tensors ${pn} and ${cn} have overlapping data ranges`);
  }
  return { tensors, metadata };
}

/** The header length from the file's first 8 bytes, checked against the size limit and the file size. */
function headerLength(path: string, first8: Uint8Array, fileSize: number): number {
  const n = Buffer.from(first8.buffer, first8.byteOffset, 8).readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8n + n > BigInt(fileSize))
    throw new SafetensorsError(
      path,
      `header length ${n} goes beyond the end of the file (${fileSize} bytes)`,
    );
  return Number(n);
}

/**
 * Parses and validates the header of a whole safetensors file held in memory (an upload being checked); `label`
 * names it in errors. Tensor offsets are absolute positions in `data`.
 */
export function parseSafetensorsBuffer(
  label: string,
  data: Uint8Array,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  if (data.byteLength < 8)
    throw new SafetensorsError(
      label,
      `truncated: ${data.byteLength} bytes, less than the 8-byte header size`,
    );
  const n = headerLength(label, data.subarray(0, 8), data.byteLength);
  return parseHeader(label, data.subarray(8, 8 + n), data.byteLength);
}

export class SafetensorsFile {
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  readonly size: number;
  readonly mtimeMs: number;
  /** the raw header JSON bytes (used to fingerprint the file cheaply) */
  readonly headerBytes: Uint8Array;
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
    mtimeMs: number,
    headerBytes: Uint8Array,
  ) {
    this.fd = fd;
    this.size = size;
    this.mtimeMs = mtimeMs;
    this.headerBytes = headerBytes;
    const parsed = parseHeader(path, headerBytes, size);
    this.tensors = parsed.tensors;
    this.metadata = parsed.metadata;
  }

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (st.size < 8)
        throw new SafetensorsError(path, `truncated: ${st.size} bytes, less than the 8-byte header size`);
      const lenBuf = Buffer.alloc(8);
      readFully(fd, lenBuf, 0);
      const header = new Uint8Array(headerLength(path, lenBuf, st.size));
      readFully(fd, header, 8);
      return new SafetensorsFile(path, fd, st.size, st.mtimeMs, header);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named ${name}`);
    return t;
  }

  /** Raw little-endian bytes of one tensor (fresh, 8-byte aligned buffer). */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    if (this.fd === null) throw new Error(`${this.path}: file already closed`);
    const out = new Uint8Array(new ArrayBuffer(t.end - t.begin));
    readFully(this.fd, out, t.begin);
    return out;
  }

  /** Any numeric tensor converted to float32. */
  readFloat32(name: string): Float32Array {
    const bytes = this.readBytes(name);
    const dtype = this.info(name).dtype;
    // readBytes returns a fresh buffer of its own: view F32 data in place instead of copying it again
    return dtype === 'F32'
      ? new Float32Array(bytes.buffer, 0, bytes.byteLength / 4)
      : toFloat32(bytes, dtype);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  // readSync reads at most 2 GB per call
  while (done < into.byteLength) {
    const chunk = Math.min(into.byteLength - done, 1 << 30);
    const n = readSync(fd, into, done, chunk, position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** raw little-endian bytes, or a Float32Array when dtype is F32 */
  data: Uint8Array | Float32Array;
}

/** Writes a safetensors file (tensors in the given order, header padded to 8 bytes as the reference does). */
export function writeSafetensors(
  path: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const blobs: Uint8Array[] = [];
  for (const t of tensors) {
    const bytes =
      t.data instanceof Float32Array
        ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
        : t.data;
    const expected = t.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype];
    if (bytes.byteLength !== expected) {
      throw new Error(`writeSafetensors: ${t.name} has ${bytes.byteLength} bytes, expected ${expected}`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    blobs.push(bytes);
  }
  writeRawSafetensors(path, JSON.stringify(header), blobs);
}

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

/**
 * Writes a safetensors file whose tensors are produced one at a time (for files larger than memory):
 * the header is laid out from the specs first, then `produce(spec)` is called in order.
 */
export function writeSafetensorsStreaming(
  path: string,
  specs: TensorSpec[],
  produce: (spec: TensorSpec) => Uint8Array | Float32Array,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const sizes = specs.map((t) => t.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype]);
  specs.forEach((t, i) => {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + sizes[i]] };
    offset += sizes[i];
  });
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (h.byteLength % 8)) % 8;
  if (pad) h = Buffer.concat([h, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, h);
    specs.forEach((t, i) => {
      const d = produce(t);
      const bytes = d instanceof Float32Array ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : d;
      if (bytes.byteLength !== sizes[i])
        throw new Error(
          `writeSafetensorsStreaming: ${t.name} produced ${bytes.byteLength} bytes, expected ${sizes[i]}`,
        );
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    });
  } finally {
    closeSync(fd);
  }
}

/** Low-level writer: any header text (also malformed ones, for tests) followed by data blobs. */
export function writeRawSafetensors(
  path: string,
  headerJson: string,
  blobs: Uint8Array[],
  headerLength?: bigint,
): void {
  let h = Buffer.from(headerJson, 'utf8');
  const pad = (8 - (h.byteLength % 8)) % 8;
  if (pad) h = Buffer.concat([h, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(h.byteLength));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, h);
    for (const b of blobs) writeSync(fd, b);
  } finally {
    closeSync(fd);
  }
}
