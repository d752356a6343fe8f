// Float32 helpers: bit casts and a correctly rounded float32 fused multiply-add.

const f = Math.fround;
const scratchF = new Float32Array(1);
const scratchI = new Int32Array(scratchF.buffer);

export function bitsOf(x: number): number {
  scratchF[0] = x;
  return scratchI[0];
}

export function fromBits(b: number): number {
  scratchI[0] = b | 0;
  return scratchF[0];
}

/** Neighbouring float32 of a finite float32 `r` in the direction of `towards`. */
export function nextFloat32(r: number, towards: number): number {
  if (r === 0) return towards > 0 ? fromBits(1) : fromBits(0x80000001);
  const b = bitsOf(r);
  return fromBits(r < towards === r > 0 ? b + 1 : b - 1);
}

/**
 * Fused multiply-add of float32 values with one rounding: a*b is exact in a double (48 bits), the
 * double sum s may be off by less than half a double ulp; only when s lands exactly on a float32
 * midpoint does that remainder decide the rounding direction.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // TwoSum: exact p + c = s + err
  const r = f(s);
  if (err === 0 || r === s) return r;
  const other = nextFloat32(r, s);
  if ((r + other) / 2 !== s) return r;
  // s is a tie between r and other: the exact value lies on err's side of s.
  const up = err > 0;
  return up === other > r ? other : r;
}
