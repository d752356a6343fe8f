import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchGenerator } from '../../../../src/engine/rng/torch-generator.ts';
import { BrownianNoiseSampler, BrownianPath } from '../../../../src/engine/schedulers/brownian.ts';
import { SD15_SCHEDULER_CONFIG } from '../../../../src/engine/schedulers/config.ts';
import { createSampler } from '../../../../src/engine/schedulers/registry.ts';
import { fakeModel } from './scheduler-fixtures.ts';

function stats(v: Float32Array): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  return { mean, variance: s2 / v.length - mean * mean };
}

test('Brownian path: same seed and queries give the same values; another seed differs', () => {
  const a = new BrownianPath(0.03, 14.6, 4096, 7);
  const b = new BrownianPath(0.03, 14.6, 4096, 7);
  for (const t of [9.1, 0.7, 3.3, 0.7]) assert.deepEqual(a.at(t), b.at(t));
  assert.deepEqual(a.at(0.03), new Float32Array(4096), 'W(t0) = 0');
  const c = new BrownianPath(0.03, 14.6, 4096, 8);
  assert.notDeepEqual(c.at(0.7), a.at(0.7));
  assert.equal(a.at(0.7), a.at(0.7), 'a known point is returned as stored');
});

test('Brownian path: W(t) - W(s) has variance t - s, disjoint increments are uncorrelated, any query order', () => {
  const n = 1 << 15;
  const tree = new BrownianPath(0, 10, n, 123);
  tree.at(9); // queried out of order on purpose: bridge sampling keeps the law of a Brownian path
  const w1 = tree.at(1);
  const w4 = tree.at(4);
  const w9 = tree.at(9);
  const inc1 = w4.map((v, k) => v - w1[k]);
  const inc2 = w9.map((v, k) => v - w4[k]);
  const s1 = stats(inc1);
  const s2 = stats(inc2);
  assert.ok(Math.abs(s1.variance - 3) < 0.15, `var ${s1.variance}`);
  assert.ok(Math.abs(s2.variance - 5) < 0.25, `var ${s2.variance}`);
  let cov = 0;
  for (let k = 0; k < n; k++) cov += inc1[k] * inc2[k];
  assert.ok(Math.abs(cov / n / Math.sqrt(15)) < 0.03, `corr ${cov / n / Math.sqrt(15)}`);
});

test('noise sampler: unit variance increments, sign follows the direction of travel', () => {
  const ns = new BrownianNoiseSampler(0.03, 14.6, 1 << 14, 5);
  const down = ns.noise(5, 2, new Float32Array(1 << 14));
  const up = ns.noise(2, 5, new Float32Array(1 << 14));
  const st = stats(down);
  assert.ok(Math.abs(st.mean) < 0.05 && Math.abs(st.variance - 1) < 0.05, JSON.stringify(st));
  for (let k = 0; k < 10; k++) assert.ok(Math.abs(down[k] + up[k]) < 1e-5);
});

test('dpm++sde without recorded noise: seeded Brownian noise, deterministic and finite; in-place stepping is safe', () => {
  const run = (seed: number, inPlace: boolean, generator?: TorchGenerator) => {
    const s = createSampler('dpm++sde_karras', SD15_SCHEDULER_CONFIG, 6, { noiseSeed: seed });
    let x: Float32Array = new Float32Array(256).map((_, k) => Math.sin(k) * s.initNoiseSigma);
    for (let i = 0; i < s.timesteps.length; i++) {
      const eps = fakeModel(s.scaleModelInput(x, i), s.timesteps[i]);
      x = inPlace ? s.step(eps, i, x, generator, x) : s.step(eps, i, x, generator);
    }
    return x;
  };
  const a = run(42, false);
  assert.deepEqual(run(42, true), a);
  // A pipeline generator is neither used nor advanced: the noise is the seeded Brownian tree's.
  const gen = new TorchGenerator(9);
  assert.deepEqual(run(42, false, gen), a);
  assert.deepEqual(gen.randn([4]), new TorchGenerator(9).randn([4]));
  assert.notDeepEqual(run(43, false), a);
  assert.ok(a.every(Number.isFinite));
});
