// Seeded noise bit-identical to PyTorch's CPU generator:
//   g = torch.Generator('cpu').manual_seed(seed); torch.randn(shape, generator=g) / torch.rand(...)
// Ref (PyTorch 1.13, unchanged in 2.x for these paths):
//  - aten/src/ATen/CPUGeneratorImpl.cpp: random() = one mt19937 output, random64() = two outputs (first is
//    the high word); manual_seed resets the cached normal samples.
//  - aten/src/ATen/core/TransformationHelper.h uniform_real: float uses the low 24 bits of random() times
//    2^-24, double the low 53 bits of random64() times 2^-53.
//  - aten/src/ATen/native/cpu/DistributionTemplates.h normal_kernel: float32 tensors with >= 16 elements
//    (contiguous) take `normal_fill`: fill with float uniforms, Box-Muller over blocks of 16 (u1 = 1 - data[j],
//    u2 = data[j + 8], j < 8), and when numel % 16 != 0 draw 16 fresh uniforms for the last 16 slots and
//    transform them again. On AVX2 machines the block transform uses avx_mathfun's log/sincos (see
//    avx-mathfun.ts). Smaller tensors take the scalar path: at::normal_distribution<double>, which draws two
//    53-bit uniforms, returns r*cos(theta) and caches r*sin(theta) in the generator for the next scalar draw.

import { log256 as log256Import, sincos256 as sincos256Import } from './avx-mathfun.ts';
import { Mt19937 } from './mt19937.ts';

const f = Math.fround;
const log256 = log256Import; // local bindings for the hot loop (see avx-mathfun.ts)
const sincos256 = sincos256Import;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M32 = 2 ** -32;
const TWO_POW_M53 = 2 ** -53;
const TWO_PI_F32 = f(2 * Math.PI);

/** Which implementation torch's vectorised Box-Muller used on the machine that made the reference. */
export type NormalFillKernel = 'avx2' | 'scalar';

export interface TorchGeneratorOptions {
  /** Defaults to 'avx2', the x86-64 path that produced every reference in this project. */
  normalKernel?: NormalFillKernel;
}

export class TorchGenerator {
  private readonly engine: Mt19937;
  private nextDoubleNormal: number | null = null;
  private readonly kernel: NormalFillKernel;
  private readonly sc = new Float64Array(2);

  constructor(seed: number | bigint = 67280421310721, options: TorchGeneratorOptions = {}) {
    this.engine = new Mt19937(seed);
    this.kernel = options.normalKernel ?? 'avx2';
  }

  manualSeed(seed: number | bigint): this {
    this.engine.seed(seed);
    this.nextDoubleNormal = null;
    return this;
  }

  /** One float uniform in [0, 1): (random() & 0xffffff) * 2^-24. */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /** One double uniform in [0, 1) from the low 53 bits of random64(). */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    // low 53 bits of (hi << 32 | lo) = (hi & 0x1fffff) * 2^32 + lo, exact in a double.
    return ((hi & 0x1fffff) * 2 ** 32 + lo) * TWO_POW_M53;
  }

  /** at::normal_distribution<double>: Box-Muller with the sine half cached for the next call. */
  private normalDouble(): number {
    if (this.nextDoubleNormal !== null) {
      const v = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Box-Muller over 16 consecutive uniforms in place (normal_fill_16 / normal_fill_16_AVX2). */
  private normalFill16(data: Float32Array, off: number): void {
    const sc = this.sc;
    for (let j = 0; j < 8; j++) {
      const u1 = f(1 - data[off + j]);
      const u2 = data[off + j + 8];
      let radius: number;
      let s: number;
      let c: number;
      if (this.kernel === 'avx2') {
        radius = f(Math.sqrt(f(-2 * log256(u1))));
        sincos256(f(TWO_PI_F32 * u2), sc);
        s = sc[0];
        c = sc[1];
      } else {
        radius = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
        const theta = f(TWO_PI_F32 * u2);
        s = f(Math.sin(theta));
        c = f(Math.cos(theta));
      }
      data[off + j] = f(radius * c);
      data[off + j + 8] = f(radius * s);
    }
  }

  /** torch.randn(numel) into `out` (float32, row-major), advancing this generator like torch does. */
  randnInto(out: Float32Array): Float32Array {
    const n = out.length;
    if (n >= 16) {
      for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
      for (let i = 0; i + 16 <= n; i += 16) this.normalFill16(out, i);
      if (n % 16 !== 0) {
        // torch recomputes the last 16 values from 16 fresh uniforms (overlapping the previous block).
        const off = n - 16;
        for (let i = 0; i < 16; i++) out[off + i] = this.uniformFloat();
        this.normalFill16(out, off);
      }
    } else {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
    }
    return out;
  }

  /**
   * Advances the generator exactly as randn of `count` values would, without computing them (for draws
   * whose values are discarded, like diffusers' Euler churn noise). >= 16 values use one 32-bit draw per
   * uniform, plus 16 more when count is not a multiple of 16.
   */
  skipRandn(count: number): void {
    if (count < 16) {
      for (let i = 0; i < count; i++) this.normalDouble();
      return;
    }
    const draws = count + (count % 16 === 0 ? 0 : 16);
    for (let i = 0; i < draws; i++) this.engine.nextUint32();
  }

  randn(shape: readonly number[]): Float32Array {
    return this.randnInto(new Float32Array(numelOf(shape)));
  }

  /** torch.rand: float uniforms in [0, 1), 24-bit. */
  randInto(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniformFloat();
    return out;
  }

  rand(shape: readonly number[]): Float32Array {
    return this.randInto(new Float32Array(numelOf(shape)));
  }

  /** A raw 32-bit draw (torch's `random()`), e.g. to derive sub-seeds. */
  nextUint32(): number {
    return this.engine.nextUint32();
  }

  /** A double uniform in [0, 1) built from one 32-bit draw (for non-torch consumers needing a float). */
  nextUnitFloat(): number {
    return this.engine.nextUint32() * TWO_POW_M32;
  }
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Convenience: torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed)). */
export function randnFromSeed(seed: number | bigint, shape: readonly number[]): Float32Array {
  return new TorchGenerator(seed).randn(shape);
}
