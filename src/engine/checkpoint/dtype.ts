// Element types of safetensors files and their conversion to float32.
// Ref: https://github.com/huggingface/safetensors (format spec: dtype names and sizes)

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);
}

// IEEE 754 binary16 -> float32 bit pattern, table driven (65536 entries, built once on first use).
let halfTable: Uint32Array | undefined;
function buildHalfTable(): Uint32Array {
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    let bits: number;
    if (exp === 0) {
      if (mant === 0) bits = sign;
      else {
        // subnormal half: normalise into a float32 normal number
        let e = -1;
        do {
          e++;
          mant <<= 1;
        } while ((mant & 0x400) === 0);
        bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
      }
    } else if (exp === 0x1f) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    t[h] = bits >>> 0;
  }
  return t;
}

/** Converts little-endian raw bytes of the given dtype to a new Float32Array. */
export function toFloat32(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const buf = aligned.buffer;
  const off = aligned.byteOffset;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf.slice(off, off + n * 4) as ArrayBuffer);
    case 'F64':
      return Float32Array.from(new Float64Array(buf, off, n));
    case 'F16': {
      halfTable ??= buildHalfTable();
      const src = new Uint16Array(buf, off, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfTable[src[i]];
      return new Float32Array(out.buffer);
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32
      const src = new Uint16Array(buf, off, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'I64': {
      const src = new BigInt64Array(buf, off, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(buf, off, n));
    case 'I16':
      return Float32Array.from(new Int16Array(buf, off, n));
    case 'I8':
      return Float32Array.from(new Int8Array(buf, off, n));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf, off, n));
  }
}

/** float32 -> binary16 bits (round to nearest even), used by the writer and tests. */
export function float32ToHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
