// Seeded Brownian motion over an interval, queried at arbitrary points in any order, for DPM++ SDE.
// Ref: Li et al. 2020, "Scalable Gradients for Stochastic Differential Equations" (the "virtual
// Brownian tree": W is fixed by a seed and materialised lazily by recursive Brownian-bridge bisection,
// so W(t) is the same whenever it is asked for); Kidger et al. 2021 (torchsde BrownianInterval);
// k-diffusion `BrownianTreeNoiseSampler`, which returns (W(s1) - W(s0)) / sqrt(|s1 - s0|).
//
// This is our own construction, NOT a reproduction of torchsde's bit stream (torchsde seeds its tree
// through numpy's SeedSequence). For a given seed it gives the same noise every run; tests use the
// recorded torchsde noise instead.
//
// Construction: W(t0) = 0, W(t1) ~ N(0, (t1 - t0) I). A node [a, b] with known W(a), W(b) has its
// midpoint m drawn from the bridge: W(m) = (W(a) + W(b)) / 2 + sqrt((b - a) / 4) z_node. Each node's z
// comes from its own TorchGenerator seeded by a hash of (seed, node path), so values never depend on
// query order. Bisection stops when the interval is shorter than `tolerance` * (t1 - t0); inside a
// leaf W is the exact bridge mean plus a bridge sample keyed on the query point.

import { TorchGenerator } from '../rng/torch-generator.ts';

const f = Math.fround;

/** SplitMix64 step on BigInt (Steele et al. 2014) to derive independent 64-bit sub-seeds. */
function mix(seed: bigint, salt: bigint): bigint {
  let z = (seed + salt * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}

interface Node {
  a: number;
  b: number;
  wa: Float32Array;
  wb: Float32Array;
  key: bigint;
}

export class BrownianTree {
  private readonly root: Node;
  private readonly minWidth: number;
  private readonly cache = new Map<bigint, Float32Array>();

  constructor(
    readonly t0: number,
    readonly t1: number,
    readonly size: number,
    readonly seed: number | bigint,
    tolerance = 1e-6,
  ) {
    if (!(t1 > t0)) throw new Error(`BrownianTree: need t0 < t1, got ${t0}, ${t1}`);
    const key = mix(BigInt(seed), 1n);
    // W(t1) gets its own key: the root key already seeds the root's midpoint.
    const w1 = this.normal(mix(key, 1n));
    const sd = Math.sqrt(t1 - t0);
    for (let k = 0; k < size; k++) w1[k] = f(w1[k] * sd);
    this.root = { a: t0, b: t1, wa: new Float32Array(size), wb: w1, key };
    this.minWidth = (t1 - t0) * tolerance;
  }

  private normal(key: bigint): Float32Array {
    return new TorchGenerator(key & 0xffffffffffffffffn).randn([this.size]);
  }

  /** W(t) for t in [t0, t1]. */
  at(t: number): Float32Array {
    if (t <= this.t0) return this.root.wa;
    if (t >= this.t1) return this.root.wb;
    let node = this.root;
    while (node.b - node.a > this.minWidth) {
      const m = (node.a + node.b) / 2;
      const wm = this.midpoint(node);
      if (t === m) return wm;
      node =
        t < m
          ? { a: node.a, b: m, wa: node.wa, wb: wm, key: mix(node.key, 2n) }
          : { a: m, b: node.b, wa: wm, wb: node.wb, key: mix(node.key, 3n) };
    }
    // Exact bridge sample inside the leaf, keyed on the query point's bits.
    const frac = (t - node.a) / (node.b - node.a);
    const sd = Math.sqrt((node.b - node.a) * frac * (1 - frac)); // bridge variance (t-a)(b-t)/(b-a)
    const z = this.normal(mix(node.key, BigInt(Math.round(frac * 2 ** 40)) + 7n));
    const out = new Float32Array(this.size);
    for (let k = 0; k < this.size; k++) out[k] = node.wa[k] + frac * (node.wb[k] - node.wa[k]) + sd * z[k];
    return out;
  }

  private midpoint(node: Node): Float32Array {
    const hit = this.cache.get(node.key);
    if (hit) return hit;
    const z = this.normal(node.key);
    const sd = Math.sqrt((node.b - node.a) / 4);
    const wm = new Float32Array(this.size);
    for (let k = 0; k < this.size; k++) wm[k] = (node.wa[k] + node.wb[k]) / 2 + sd * z[k];
    if (this.cache.size > 4096) this.cache.clear();
    this.cache.set(node.key, wm);
    return wm;
  }
}

/**
 * DPM++ SDE noise: (W(s_to) - W(s_from)) / sqrt(|s_to - s_from|), unit-variance normal, with W a Brownian
 * tree over [sigma_min, sigma_max] of the schedule (the interface of k-diffusion's BrownianTreeNoiseSampler).
 */
export class BrownianTreeNoiseSampler {
  private readonly tree: BrownianTree;

  constructor(sigmaMin: number, sigmaMax: number, size: number, seed: number | bigint) {
    this.tree = new BrownianTree(sigmaMin, sigmaMax, size, seed);
  }

  noise(sigmaFrom: number, sigmaTo: number, out: Float32Array): Float32Array {
    const lo = Math.min(sigmaFrom, sigmaTo);
    const hi = Math.max(sigmaFrom, sigmaTo);
    const wl = this.tree.at(lo);
    const wh = this.tree.at(hi);
    // Increment in the direction of travel (from -> to), normalised to unit variance.
    const sign = sigmaTo >= sigmaFrom ? 1 : -1;
    const scale = sign / Math.sqrt(hi - lo);
    for (let k = 0; k < out.length; k++) out[k] = (wh[k] - wl[k]) * scale;
    return out;
  }
}
