import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { log256, sincos256 } from '../../../../src/engine/rng/avx-mathfun.ts';
import { fmaF32 } from '../../../../src/engine/rng/float32.ts';
import { Mt19937 } from '../../../../src/engine/rng/mt19937.ts';
import { TorchGenerator } from '../../../../src/engine/rng/torch-generator.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';

interface Tensor {
  shape: number[];
  data: (number | string)[];
}
interface SingleDraw {
  seed: number;
  shape: number[];
  numel: number;
  first64: string[];
  sum: number;
  abs_sum: number;
  sha256_f32le: string;
  full?: Tensor;
}
const rng = JSON.parse(readFileSync(fixturePath('sd-reference', 'refs', 'rng.json'), 'utf8')) as {
  single_draws: SingleDraw[];
  consecutive_draws: { seed: number; draws: { shape: number[]; values: Tensor }[] }[];
};

const f32 = (v: (number | string)[]) => Float32Array.from(v, (x) => Math.fround(Number(x)));

function assertBitEqual(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      assert.fail(`${what}: index ${i}: got ${actual[i]}, want ${expected[i]}`);
  }
}

test('mt19937 matches the reference sequence (seed 5489, 10000th output 4123659995)', () => {
  const mt = new Mt19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = mt.nextUint32();
  assert.equal(v, 4123659995);
});

test('seeds keep only their low 32 bits, like torch (2^32 seeds like 0)', () => {
  assertBitEqual(new TorchGenerator(2 ** 32).randn([20]), new TorchGenerator(0).randn([20]), 'seed 2^32');
});

for (const d of rng.single_draws) {
  test(`randn seed ${d.seed} shape [${d.shape}] is bit-identical to torch`, () => {
    const got = new TorchGenerator(d.seed).randn(d.shape);
    assert.equal(got.length, d.numel);
    assertBitEqual(got.subarray(0, d.first64.length), f32(d.first64), 'first64');
    if (d.full) assertBitEqual(got, f32(d.full.data), 'full');
    const sha = createHash('sha256').update(new Uint8Array(got.buffer)).digest('hex');
    assert.equal(sha, d.sha256_f32le, 'sha256 of all float32 values');
    let sum = 0;
    let abs = 0;
    for (const v of got) {
      sum += v;
      abs += Math.abs(v);
    }
    assert.ok(Math.abs(sum - d.sum) < 1e-9 * Math.max(1, Math.abs(d.abs_sum)), 'sum');
    assert.ok(Math.abs(abs - d.abs_sum) < 1e-9 * Math.max(1, d.abs_sum), 'abs_sum');
  });
}

for (const c of rng.consecutive_draws) {
  test(`consecutive draws from one generator (seed ${c.seed}) continue torch's state`, () => {
    const g = new TorchGenerator(c.seed);
    for (const [k, d] of c.draws.entries()) {
      assertBitEqual(g.randn(d.shape), f32(d.values.data), `draw ${k} [${d.shape}]`);
    }
  });
}

test('seed-only pipeline noise: one generator for the batch, then per-image generators (pipeline_seeded.json)', () => {
  const ref = JSON.parse(
    readFileSync(fixturePath('sd-reference', 'refs', 'pipeline_seeded.json'), 'utf8'),
  ) as {
    runs: {
      mode: string;
      generator_seeds: number[];
      initial_latents_drawn: Tensor;
      step_noise: Tensor[];
    }[];
  };
  assert.ok(ref.runs.length >= 4);
  for (const run of ref.runs) {
    const gens = run.generator_seeds.map((s) => new TorchGenerator(s));
    const per = 4 * 16 * 16;
    const draw = (): Float32Array => {
      if (run.mode === 'single_generator') return gens[0].randn([2, 4, 16, 16]);
      const out = new Float32Array(2 * per);
      for (const [i, g] of gens.entries()) out.set(g.randn([1, 4, 16, 16]), i * per);
      return out;
    };
    assertBitEqual(draw(), f32(run.initial_latents_drawn.data), `${run.mode} ${run.generator_seeds} initial`);
    for (const [k, n] of run.step_noise.entries())
      assertBitEqual(draw(), f32(n.data), `${run.mode} step ${k}`);
  }
});

test('rand gives 24-bit uniforms in [0, 1) from the same stream', () => {
  const u = new TorchGenerator(7).rand([1000]);
  const mt = new Mt19937(7);
  for (let i = 0; i < u.length; i++) {
    assert.equal(u[i], (mt.nextUint32() & 0xffffff) / 2 ** 24);
    assert.ok(u[i] >= 0 && u[i] < 1);
  }
});

test('float32 fma rounds once: a tiny addend breaks a tie that double rounding would lose', () => {
  // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is exactly halfway between two float32 values; adding 2^-80
  // must round up, while rounding the double sum (which drops 2^-80) ties to even, i.e. down.
  const a = 1 + 2 ** -12;
  assert.equal(Math.fround(a * a + 2 ** -80), 1 + 2 ** -11);
  assert.equal(fmaF32(a, a, 2 ** -80), 1 + 2 ** -11 + 2 ** -23);
  assert.equal(fmaF32(a, a, -(2 ** -80)), 1 + 2 ** -11);
  assert.equal(fmaF32(-a, a, -(2 ** -80)), -(1 + 2 ** -11 + 2 ** -23));
});

test('avx_mathfun approximations stay within float32 accuracy of libm', () => {
  const sc = new Float64Array(2);
  for (let x = 1e-6; x < 1; x *= 1.37)
    assert.ok(Math.abs(log256(x) - Math.log(x)) <= 2e-7 * Math.abs(Math.log(x)) + 1e-7);
  for (let t = 0; t < 2 * Math.PI; t += 0.01) {
    sincos256(t, sc);
    assert.ok(Math.abs(sc[0] - Math.sin(t)) < 3e-7 && Math.abs(sc[1] - Math.cos(t)) < 3e-7, `t=${t}`);
  }
});

test('skipRandn advances the state exactly like a discarded randn of the same size', () => {
  for (const n of [5, 16, 100, 256, 1000]) {
    const a = new TorchGenerator(11);
    const b = new TorchGenerator(11);
    a.randn([n]);
    b.skipRandn(n);
    assertBitEqual(b.randn([37]), a.randn([37]), `after ${n}`);
    assertBitEqual(b.randn([3]), a.randn([3]), `scalar path after ${n}`);
  }
});
