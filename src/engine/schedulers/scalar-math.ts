// Float32 log / exp / expm1 exactly as diffusers' 0-dim torch tensors compute them on x86-64.
// PyTorch 1.13 runs log/exp/expm1 of float32 tensors through its vectorised kernels even for a single
// element (at::vml -> vec::map loads a partial vector), i.e. through Sleef's 1-ulp AVX2+FMA functions
// Sleef_logf8_u10 / Sleef_expf8_u10 / Sleef_expm1f8_u10, not libm. They are not correctly rounded,
// so to reproduce DPM-Solver trajectories bit for bit we evaluate the same algorithms in float32.
// Ref: SLEEF (N. Shibata, "Efficient evaluation methods of elementary functions suitable for SIMD
// computation", 2010; sleef src/libm/sleefsimdsp.c xlogf_u1 / xexpf / xexpm1f + expk2f, and the
// double-float ("df") helpers of src/common/df.h, FMA variants; SLEEF is built with -ffp-contract=off,
// so only its explicit FMAs are fused).

import { bitsOf, fmaF32, fromBits } from '../rng/float32.ts';

const f = Math.fround;
const fma = fmaF32;

type DF = [hi: number, lo: number];

const R_LN2F = f(Math.LOG2E);
const L2UF = f(0.693145751953125);
const L2LF = f(0.000001428606765330187);
const FLT_MIN = fromBits(0x00800000);

/** rint with round-half-to-even (cvtps2dq under the default MXCSR). */
function rintEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function pow2i(q: number): number {
  return fromBits((q + 0x7f) << 23);
}

/** ldexp by two power-of-two multiplications (vldexp2). */
function ldexp2(d: number, e: number): number {
  const h = e >> 1;
  return f(f(d * pow2i(h)) * pow2i(e - h));
}

// --- double-float arithmetic (df.h) ---
function dfadd2_ff(x: number, y: number): DF {
  const s = f(x + y);
  const v = f(s - x);
  return [s, f(f(x - f(s - v)) + f(y - v))];
}
function dfadd2_dff(x: DF, y: number): DF {
  const s = f(x[0] + y);
  const v = f(s - x[0]);
  const t = f(f(x[0] - f(s - v)) + f(y - v));
  return [s, f(t + x[1])];
}
function dfadd2_dfdf(x: DF, y: DF): DF {
  const s = f(x[0] + y[0]);
  const v = f(s - x[0]);
  const t = f(f(x[0] - f(s - v)) + f(y[0] - v));
  return [s, f(t + f(x[1] + y[1]))];
}
function dfadd_dfdf(x: DF, y: DF): DF {
  const s = f(x[0] + y[0]);
  return [s, f(f(f(f(x[0] - s) + y[0]) + x[1]) + y[1])];
}
function dfadd_dff(x: DF, y: number): DF {
  const s = f(x[0] + y);
  return [s, f(f(f(x[0] - s) + y) + x[1])];
}
function dfadd_fdf(x: number, y: DF): DF {
  const s = f(x + y[0]);
  return [s, f(f(f(x - s) + y[0]) + y[1])];
}
function dfscale(d: DF, s: number): DF {
  return [f(d[0] * s), f(d[1] * s)];
}
function dfmul_dff(x: DF, y: number): DF {
  const s = f(x[0] * y);
  return [s, fma(x[1], y, fma(x[0], y, -s))];
}
function dfmul_dfdf(x: DF, y: DF): DF {
  const s = f(x[0] * y[0]);
  return [s, fma(x[0], y[1], fma(x[1], y[0], fma(x[0], y[0], -s)))];
}
function dfsqu(x: DF): DF {
  const s = f(x[0] * x[0]);
  return [s, fma(f(x[0] + x[0]), x[1], fma(x[0], x[0], -s))];
}
function dfdiv(n: DF, d: DF): DF {
  const t = f(1 / d[0]);
  const s = f(n[0] * t);
  const u = fma(t, n[0], -s);
  const v = fma(-d[1], t, fma(-d[0], t, 1));
  return [s, fma(s, v, fma(n[1], t, u))];
}

/** Sleef xlogf_u1 (AVX2 path). */
export function logF32(dIn: number): number {
  let d = f(dIn);
  if (Number.isNaN(d) || d < 0) return Number.NaN;
  if (d === 0) return Number.NEGATIVE_INFINITY;
  if (d === Number.POSITIVE_INFINITY) return d;
  const tiny = d < FLT_MIN;
  if (tiny) d = f(d * 2 ** 64);
  let e = ((bitsOf(f(d * f(1 / 0.75))) >>> 23) & 0xff) - 0x7f;
  const m = fromBits(bitsOf(d) + (-e << 23));
  if (tiny) e -= 64;
  let s = dfmul_dff([f(0.6931471824645996), f(-1.904654323148236e-9)], e);
  const x = dfdiv(dfadd2_ff(-1, m), dfadd2_ff(1, m));
  const x2 = f(x[0] * x[0]);
  let t = f(0.3027294874);
  t = fma(t, x2, f(0.3996108174));
  t = fma(t, x2, f(0.666669488));
  s = dfadd_dfdf(s, dfscale(x, 2));
  s = dfadd_dff(s, f(f(x2 * x[0]) * t));
  return f(s[0] + s[1]);
}

const EXP_POLY = [
  0.00019852761761285365, 0.0013930435525253415, 0.008333360776305199, 0.041666485369205475,
  0.1666666716337204, 0.5,
].map(f);

/** Sleef xexpf (u10). */
export function expF32(dIn: number): number {
  const d = f(dIn);
  if (Number.isNaN(d)) return d;
  if (d > 100) return Number.POSITIVE_INFINITY;
  if (d < -104) return 0;
  const q = rintEven(f(d * R_LN2F));
  let s = fma(q, -L2UF, d);
  s = fma(q, -L2LF, s);
  let u = EXP_POLY[0];
  for (let k = 1; k < EXP_POLY.length; k++) u = fma(u, s, EXP_POLY[k]);
  u = f(1 + fma(f(s * s), u, s));
  return ldexp2(u, q);
}

/** Sleef expk2f: exp of a double-float, as a double-float. */
function expk2f(d: DF): DF {
  const q = rintEven(f(f(d[0] + d[1]) * R_LN2F));
  let s = dfadd2_dff(d, f(q * -L2UF));
  s = dfadd2_dff(s, f(q * -L2LF));
  let u = f(0.0001980960224);
  u = fma(u, s[0], f(0.001394256484));
  u = fma(u, s[0], f(0.008333456703));
  u = fma(u, s[0], f(0.04166637361));
  let t = dfadd2_dff(dfmul_dff(s, u), f(0.16666665941423425));
  t = dfadd2_dff(dfmul_dfdf(s, t), 0.5);
  t = dfadd2_dfdf(s, dfmul_dfdf(dfsqu(s), t));
  t = dfadd_fdf(1, t);
  if (d[0] < -104) return [0, 0];
  return [ldexp2(t[0], q), ldexp2(t[1], q)];
}

/** Sleef xexpm1f (u10). */
export function expm1F32(aIn: number): number {
  const a = f(aIn);
  if (Object.is(a, -0)) return -0;
  if (a > 88.72283172607422) return Number.POSITIVE_INFINITY;
  if (a < f(-16.635532333438686)) return -1;
  const d = dfadd2_dff(expk2f([a, 0]), -1);
  return f(d[0] + d[1]);
}
