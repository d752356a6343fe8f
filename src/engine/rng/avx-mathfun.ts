// Float32 log / sincos exactly as PyTorch's AVX2 normal sampler computes them.
// Ref: aten/src/ATen/native/cpu/avx_mathfun.h (G. Garberoglio's AVX port of J. Pommier's sse_mathfun,
// itself built on the Cephes single-precision polynomials logf / sinf / cosf by S. Moshier).
// torch.randn on CPU (x86-64 with AVX2, tensors of >= 16 float32 values) uses `log256_ps` and
// `sincos256_ps` from that header, NOT libm, so to reproduce its bits every operation below is
// rounded to float32 in the same order as the intrinsics. GCC builds torch's AVX2 kernels with -mfma and
// (its default) -ffp-contract=fast, and the intrinsics are plain vector `*` / `+`, so every product whose
// only use is an addition became a fused multiply-add; `fmaF32` reproduces exactly those contractions
// (checked bit for bit against refs/rng.json).

import { bitsOf as bitsOfImport, fmaF32 as fmaImport, fromBits as fromBitsImport } from './float32.ts';

const f = Math.fround;
// Local bindings: the hot loops below call these ~20 times per normal, and a direct local reference lets
// the JIT inline them (module-namespace bindings can compile to getter calls under some loaders).
const fmaF32 = fmaImport;
const bitsOf = bitsOfImport;
const fromBits = fromBitsImport;
const MIN_NORM_POS = fromBits(0x00800000);
const SQRTHF = f(Math.SQRT1_2); // cephes SQRTHF;
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);

/** Cephes logf as evaluated by `log256_ps` (valid for x > 0, which is all the sampler needs). */
export function log256(xIn: number): number {
  let x = f(Math.max(f(xIn), MIN_NORM_POS));
  const bits = bitsOf(x);
  // Split x = m * 2^e with m in [0.5, 1).
  const exponent = (bits >>> 23) - 0x7f;
  x = fromBits((bits & ~0x7f800000) | 0x3f000000);
  let e = f(exponent + 1);
  const lessThanSqrtHalf = x < SQRTHF;
  const tmp0 = lessThanSqrtHalf ? x : 0;
  x = f(x - 1);
  e = f(e - (lessThanSqrtHalf ? 1 : 0));
  x = f(x + tmp0);
  const z = f(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaF32(y, x, LOG_P[k]);
  y = f(y * x);
  y = fmaF32(y, z, f(e * LOG_Q1));
  y = f(y - f(z * 0.5));
  x = fmaF32(e, LOG_Q2, f(x + y));
  return x;
}

const FOPI = f(1.27323954473516); // 4 / pi
const MINUS_DP1 = f(-0.78515625);
const MINUS_DP2 = f(-0.00024187564849853516);
const MINUS_DP3 = f(-3.774894977445941e-8);
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COSCOF = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

/** Cephes sinf/cosf pair as evaluated by `sincos256_ps`; writes [sin, cos] into `out`. */
export function sincos256(xIn: number, out: Float64Array | Float32Array): void {
  const xf = f(xIn);
  const sinSignNegative = xf < 0 || Object.is(xf, -0);
  let x = Math.abs(xf);
  // Octant: j = (int(x * 4/pi) + 1) & ~1.
  let j = Math.trunc(f(x * FOPI));
  j = (j + 1) & ~1;
  const y0 = f(j);
  const swapSin = (j & 4) !== 0;
  const swapPolynomials = (j & 2) !== 0; // octants 2,3 (mod 4): sin comes from the cosine polynomial
  // Extended precision modular arithmetic: x = ((x - y*DP1) - y*DP2) - y*DP3.
  x = fmaF32(y0, MINUS_DP1, x);
  x = fmaF32(y0, MINUS_DP2, x);
  x = fmaF32(y0, MINUS_DP3, x);
  const cosNegative = (~(j - 2) & 4) !== 0;
  const sinNegative = sinSignNegative !== swapSin;
  const z = f(x * x);
  let yc = COSCOF[0];
  yc = fmaF32(yc, z, COSCOF[1]);
  yc = fmaF32(yc, z, COSCOF[2]);
  yc = f(yc * z);
  yc = fmaF32(yc, z, -f(z * 0.5));
  yc = f(yc + 1);
  let ys = SINCOF[0];
  ys = fmaF32(ys, z, SINCOF[1]);
  ys = fmaF32(ys, z, SINCOF[2]);
  ys = f(ys * z);
  ys = fmaF32(ys, x, x);
  const sinMag = swapPolynomials ? yc : ys;
  const cosMag = swapPolynomials ? ys : yc;
  // The sign is applied with an XOR on the sign bit, so it flips zero too.
  out[0] = sinNegative ? -sinMag : sinMag;
  out[1] = cosNegative ? -cosMag : cosMag;
}
