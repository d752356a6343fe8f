// Seeded Brownian motion over an interval, sampled lazily at the points DPM++ SDE asks for.
// Ref: Kidger et al. 2021, "Efficient and Accurate Gradients for Neural SDEs" (torchsde's
// BrownianInterval: sample W only where queried, each new point from the Brownian bridge between its
// known neighbours); Li et al. 2020 (virtual Brownian tree); k-diffusion `BrownianTreeNoiseSampler`,
// which returns (W(s1) - W(s0)) / sqrt(|s1 - s0|).
//
// Construction: W(t0) = 0 and W(t1) ~ N(0, (t1 - t0) I). A new point t between known neighbours a < t < b is
// drawn from the bridge: W(t) = W(a) + (t - a)/(b - a) (W(b) - W(a)) + sqrt((t - a)(b - t)/(b - a)) z.
// By the Markov property this gives exactly a Brownian path at every queried point, whatever the order,
// and each step costs one normal draw per new point. z comes from a TorchGenerator seeded with
// SplitMix64(seed, bits of t). Values are a function of the seed and of the sequence of queries; DPM++ SDE
// always queries the same sequence for a given schedule, so a seed always gives the same image.
//
// This is our own source of the same kind as torchsde's BrownianTree, NOT a reproduction of its bit stream
// (torchsde seeds through numpy's SeedSequence); tests feed the recorded torchsde noise instead.

import { TorchGenerator } from '../rng/torch-generator.ts';

const MASK64 = 0xffffffffffffffffn;

/** SplitMix64 finaliser (Steele et al. 2014) to derive independent 64-bit sub-seeds. */
function mix(seed: bigint, salt: bigint): bigint {
  let z = (seed + salt * 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

const scratch = new Float64Array(1);
const scratchBits = new BigUint64Array(scratch.buffer);
function bitsOfDouble(t: number): bigint {
  scratch[0] = t;
  return scratchBits[0];
}

export class BrownianPath {
  private readonly times: number[];
  private readonly values: Float32Array[];
  private readonly key: bigint;

  constructor(
    readonly t0: number,
    readonly t1: number,
    readonly size: number,
    seed: number | bigint,
  ) {
    if (!(t1 > t0)) throw new Error(`BrownianPath: need t0 < t1, got ${t0}, ${t1}`);
    this.key = mix(BigInt(seed) & MASK64, 1n);
    const w1 = this.normal(t1);
    const sd = Math.sqrt(t1 - t0);
    for (let k = 0; k < size; k++) w1[k] *= sd;
    this.times = [t0, t1];
    this.values = [new Float32Array(size), w1];
  }

  private normal(t: number): Float32Array {
    return new TorchGenerator(mix(this.key, bitsOfDouble(t))).randn([this.size]);
  }

  /** W(t); t is clamped to [t0, t1]. */
  at(tIn: number): Float32Array {
    const t = Math.min(this.t1, Math.max(this.t0, tIn));
    // Binary search for the first known time >= t.
    let lo = 0;
    let hi = this.times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    if (this.times[lo] === t) return this.values[lo];
    const a = this.times[lo - 1];
    const b = this.times[lo];
    const wa = this.values[lo - 1];
    const wb = this.values[lo];
    const frac = (t - a) / (b - a);
    const sd = Math.sqrt((b - a) * frac * (1 - frac)); // sqrt((t - a)(b - t) / (b - a))
    const z = this.normal(t);
    for (let k = 0; k < this.size; k++) z[k] = wa[k] + frac * (wb[k] - wa[k]) + sd * z[k];
    this.times.splice(lo, 0, t);
    this.values.splice(lo, 0, z);
    return z;
  }
}

/**
 * DPM++ SDE noise: (W(s_to) - W(s_from)) / sqrt(|s_to - s_from|), unit-variance normal, with W a Brownian
 * path over [sigma_min, sigma_max] of the schedule (the interface of k-diffusion's BrownianTreeNoiseSampler).
 */
export class BrownianNoiseSampler {
  private readonly path: BrownianPath;

  constructor(sigmaMin: number, sigmaMax: number, size: number, seed: number | bigint) {
    this.path = new BrownianPath(sigmaMin, sigmaMax, size, seed);
  }

  noise(sigmaFrom: number, sigmaTo: number, out: Float32Array): Float32Array {
    const wFrom = this.path.at(sigmaFrom);
    const wTo = this.path.at(sigmaTo);
    const span = Math.abs(sigmaTo - sigmaFrom);
    if (span === 0) return out.fill(0);
    const scale = 1 / Math.sqrt(span);
    for (let k = 0; k < out.length; k++) out[k] = (wTo[k] - wFrom[k]) * scale;
    return out;
  }
}
