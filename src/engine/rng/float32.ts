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
 * Fused multiply-add of float32 values with one rounding. a*b is exact in a double (48 bits) and the
 * double sum s = a*b + c is within half a double ulp of the exact value, so rounding s to float32 is
 * right unless s lies exactly halfway between two float32 values; only then the rounding error of s
 * (TwoSum) decides the direction.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s) return r;
  const d = s - r;
  const other = r + 2 * d; // the other float32 neighbour, if s is a tie
  if (f(other) !== other) return r;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // exact a*b + c = s + err
  if (err === 0) return r; // a true tie: f() already rounded it to even
  return err > 0 === other > r ? other : r;
}
