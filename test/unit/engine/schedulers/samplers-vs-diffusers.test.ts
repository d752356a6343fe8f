// Every run of the scheduler reference files, step by step: timesteps, sigmas, init_noise_sigma,
// scale_model_input factors and every intermediate sample (and LCM's denoised) must match diffusers
// bit for bit, stochastic samplers fed the recorded noise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { schedulerConfigFromDiffusers } from '../../../../src/engine/schedulers/config.ts';
import { type CreateSamplerOptions, createSampler } from '../../../../src/engine/schedulers/registry.ts';
import type { SamplerName } from '../../../../src/engine/schedulers/sampler.ts';
import { f32, fakeModel, firstMismatch, loadSchedulerRef, type RunRef } from './scheduler-fixtures.ts';

const TABLE: [file: string, sampler: SamplerName, opts?: CreateSamplerOptions][] = [
  ['euler', 'euler'],
  ['euler_karras', 'euler'], // karras from the run's config (use_karras_sigmas)
  ['euler_ancestral', 'euler_a'],
  ['dpmpp_2m', 'dpm++2m'],
  ['dpmpp_2m_karras', 'dpm++2m_karras'],
  ['dpmpp_sde', 'dpm++sde'],
  ['dpmpp_sde_karras', 'dpm++sde_karras'],
  ['lcm', 'lcm'],
  ['tcd', 'tcd', { gamma: 0.3 }],
];

/**
 * Timesteps that diffusers interpolates from a sigma (`_sigma_to_t`: Karras schedules, DPM++ SDE
 * midpoints) agree to ~5e-5 of a timestep, not bit for bit (numpy's float32 log / libm pow rounding; see
 * docs/schedulers.md). They only feed the UNet's timestep embedding; the solver arithmetic uses the
 * sigmas, which are exact. DPM++ 2M Karras rounds them to integers, which are checked exactly.
 */
const FRACTIONAL_TIMESTEP_TOLERANCE = 1e-4;

function checkSchedule(run: RunRef, sampler: ReturnType<typeof createSampler>): void {
  assert.equal(sampler.timesteps.length, run.timesteps.length, 'number of model calls');
  run.timesteps.forEach((t, i) => {
    const got = sampler.timesteps[i];
    const interpolated = run.config.use_karras_sigmas === true || run.timesteps_dtype === 'float64';
    if (!interpolated) assert.equal(got, t, `timestep ${i}`);
    else assert.ok(Math.abs(got - t) <= FRACTIONAL_TIMESTEP_TOLERANCE, `timestep ${i}: ${got} vs ${t}`);
  });
  if (run.sigmas) assert.equal(firstMismatch(sampler.sigmas, f32(run.sigmas)), -1, 'sigmas');
  assert.equal(sampler.initNoiseSigma, Math.fround(run.init_noise_sigma), 'init_noise_sigma');
}

for (const [file, name, opts] of TABLE) {
  const ref = loadSchedulerRef(file);
  for (const run of ref.runs) {
    test(`${file}: ${run.timestep_spacing} x ${run.num_inference_steps} steps matches diffusers exactly`, () => {
      const config = schedulerConfigFromDiffusers(run.config);
      const sampler = createSampler(name, config, run.num_inference_steps, {
        ...opts,
        spacing: run.timestep_spacing,
      });
      checkSchedule(run, sampler);
      const noise0 = f32(ref.initial_noise.data);
      let x: Float32Array = noise0.map((v) => v * sampler.initNoiseSigma);
      assert.equal(firstMismatch(x, f32(run.x_init.data)), -1, 'x_init');
      for (const [i, st] of run.steps.entries()) {
        assert.equal(
          Math.fround(1 / sampler.modelInputDivisor(i)),
          Math.fround(st.scale_model_input_factor),
          `factor ${i}`,
        );
        const eps = fakeModel(sampler.scaleModelInput(x, i), st.t);
        const noise = st.noise?.length ? f32(st.noise[0].data) : undefined;
        x = sampler.step(eps, i, x, noise);
        const k = firstMismatch(x, f32(st.prev_sample.data));
        assert.equal(k, -1, `step ${i}: value ${k} is ${x[k]}, want ${st.prev_sample.data[k]}`);
        if (st.denoised)
          assert.equal(firstMismatch(sampler.lastDenoised!, f32(st.denoised.data)), -1, `denoised ${i}`);
        if (st.noise_sigma_interval) {
          const [from, to] = st.noise_sigma_interval[0];
          const got = (sampler as unknown as { lastNoiseInterval: [number, number] }).lastNoiseInterval;
          assert.deepEqual(got.map(Math.fround), [Math.fround(from), Math.fround(to)], `noise interval ${i}`);
        }
      }
    });
  }
}
