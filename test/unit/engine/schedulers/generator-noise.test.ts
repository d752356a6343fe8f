// The stochastic samplers driven by a torch-exact generator seeded like diffusers' (generator_seed)
// reproduce the recorded noise and trajectories: shows the per-step draw bookkeeping (incl. Euler's
// discarded churn draw and LCM / TCD's silent last step) matches diffusers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchGenerator } from '../../../../src/engine/rng/torch-generator.ts';
import { schedulerConfigFromDiffusers } from '../../../../src/engine/schedulers/config.ts';
import { createSampler } from '../../../../src/engine/schedulers/registry.ts';
import { sample } from '../../../../src/engine/schedulers/sample-loop.ts';
import type { SamplerName } from '../../../../src/engine/schedulers/sampler.ts';
import { f32, fakeModel, firstMismatch, loadSchedulerRef } from './scheduler-fixtures.ts';

const TABLE: [string, SamplerName][] = [
  ['euler', 'euler'],
  ['euler_ancestral', 'euler_a'],
  ['lcm', 'lcm'],
  ['tcd', 'tcd'],
  ['dpmpp_2m_karras', 'dpm++2m_karras'],
];

for (const [file, name] of TABLE) {
  const ref = loadSchedulerRef(file);
  test(`${file}: a TorchGenerator(generator_seed) as noise source reproduces every run`, async () => {
    for (const run of ref.runs) {
      const sampler = createSampler(name, schedulerConfigFromDiffusers(run.config), run.num_inference_steps);
      const gen = new TorchGenerator(run.generator_seed);
      // Each recorded draw is exactly what the generator yields next.
      const probe = new TorchGenerator(run.generator_seed);
      for (const [i, st] of run.steps.entries()) {
        assert.equal(sampler.generatorDrawsAt(i), st.noise?.length ?? 0, `draws at ${i}`);
        for (const n of st.noise ?? []) assert.equal(firstMismatch(probe.randn(n.shape), f32(n.data)), -1);
      }
      const x0 = f32(run.x_init.data);
      const seen: Float32Array[] = [];
      const out = await sample(sampler, (xIn, t) => fakeModel(xIn, t), x0, {
        noise: gen,
        onStep: (_i, x) => {
          seen.push(x.slice());
          return true;
        },
      });
      for (const [i, st] of run.steps.entries()) {
        assert.equal(firstMismatch(seen[i], f32(st.prev_sample.data)), -1, `${run.timestep_spacing} ${i}`);
      }
      assert.equal(firstMismatch(out, f32(run.steps.at(-1)!.prev_sample.data)), -1);
    }
  });
}
