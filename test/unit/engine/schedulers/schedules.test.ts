import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { TorchGenerator } from '../../../../src/engine/rng/torch-generator.ts';
import {
  SD15_SCHEDULER_CONFIG,
  schedulerConfigFromDiffusers,
} from '../../../../src/engine/schedulers/config.ts';
import {
  alphaSigmaFromSigma,
  denoiseSigmaSpace,
  denoiseVp,
} from '../../../../src/engine/schedulers/denoisers.ts';
import { img2imgLatents, img2imgStart } from '../../../../src/engine/schedulers/img2img.ts';
import {
  alphasCumprodFor,
  karrasSigmas,
  roundHalfEven,
  torchLinspaceF32,
} from '../../../../src/engine/schedulers/noise-schedule.ts';
import {
  createSampler,
  defaultSamplerFor,
  SAMPLER_NAMES,
} from '../../../../src/engine/schedulers/registry.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { f32, fakeModel, firstMismatch, loadSchedulerIndex } from './scheduler-fixtures.ts';

const modelConfig = schedulerConfigFromDiffusers(
  JSON.parse(
    readFileSync(fixturePath('sd-reference', 'model', 'scheduler', 'scheduler_config.json'), 'utf8'),
  ),
);

test('alphas_cumprod from scaled_linear betas equals refs/schedulers/index.json bit for bit', () => {
  const ref = loadSchedulerIndex();
  const config = schedulerConfigFromDiffusers(ref.base_config);
  assert.equal(firstMismatch(alphasCumprodFor(config), f32(ref.alphas_cumprod.data)), -1);
});

test('torch.linspace float32: endpoints exact, monotone', () => {
  const v = torchLinspaceF32(0.1, 0.9, 37);
  assert.equal(v[0], Math.fround(0.1));
  assert.equal(v[36], Math.fround(0.9));
  for (let i = 1; i < v.length; i++) assert.ok(v[i] > v[i - 1]);
});

test('Karras schedule: endpoints are sigma_max and sigma_min, rho = 7 spacing', () => {
  const s = karrasSigmas(0.0292, 14.6146, 10);
  assert.ok(Math.abs(s[0] - 14.6146) < 1e-12 && Math.abs(s[9] - 0.0292) < 1e-12);
  const mid = (14.6146 ** (1 / 7) + (4 / 9) * (0.0292 ** (1 / 7) - 14.6146 ** (1 / 7))) ** 7;
  assert.ok(Math.abs(s[4] - mid) < 1e-12);
});

test('roundHalfEven matches numpy.round', () => {
  const table: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, -0],
    [999.5, 1000],
    [998.5, 998],
    [3.2, 3],
  ];
  for (const [x, want] of table) assert.equal(roundHalfEven(x), want, `${x}`);
});

test("model scheduler config (SD1.5 PNDM, leading) drives the pipelines' samplers like diffusers", () => {
  const text = readFileSync(fixturePath('sd-reference', 'refs', 'pipeline_txt2img.json'), 'utf8');
  const ref = JSON.parse(text.replace(/-?Infinity/g, 'null'));
  assert.equal(modelConfig.timestepSpacing, 'leading');
  const byClass: Record<string, ReturnType<typeof createSampler>> = {
    EulerDiscreteScheduler: createSampler('euler', modelConfig, 4),
    DPMSolverMultistepScheduler: createSampler('dpm++2m_karras', modelConfig, 4),
  };
  for (const run of ref.runs as { scheduler: string; timesteps: number[]; init_noise_sigma: number }[]) {
    const s = byClass[run.scheduler];
    if (!s) continue;
    assert.deepEqual(Array.from(s.timesteps), run.timesteps, run.scheduler);
    assert.equal(s.initNoiseSigma, Math.fround(run.init_noise_sigma), run.scheduler);
  }
});

test('img2img: strength 0.6 of 4 steps runs the last 2 (refs/pipeline_img2img.json)', () => {
  const ref = JSON.parse(readFileSync(fixturePath('sd-reference', 'refs', 'pipeline_img2img.json'), 'utf8'));
  const s = createSampler('euler', modelConfig, ref.num_inference_steps);
  assert.deepEqual(Array.from(s.timesteps), ref.all_timesteps_for_4_steps);
  const start = img2imgStart(s, ref.num_inference_steps, ref.strength);
  assert.deepEqual(start, { startIndex: 2, stepsRun: 2 });
  // Euler add_noise: x0 + sigma_start * noise.
  const x0 = Float32Array.of(1, -2, 0.5);
  const noise = Float32Array.of(0.25, 1, -1);
  const noised = img2imgLatents(s, start, x0, noise);
  const sigma = s.sigmas[2];
  assert.deepEqual(
    Array.from(noised),
    Array.from(x0, (v, k) => Math.fround(v + Math.fround(noise[k] * sigma))),
  );
  assert.deepEqual(img2imgStart(s, 4, 1), { startIndex: 0, stepsRun: 4 });
  assert.deepEqual(img2imgStart(s, 4, 0), { startIndex: 4, stepsRun: 0 });
  assert.deepEqual(Array.from(img2imgLatents(s, img2imgStart(s, 4, 0), x0, noise)), Array.from(x0));
  const sde = createSampler('dpm++sde', modelConfig, 4);
  assert.equal(img2imgStart(sde, 4, 0.5).startIndex, 4, 'two model calls per DPM++ SDE step');
  assert.throws(() => img2imgStart(s, 4, 1.5));
});

test('registry: every API name builds a sampler with consistent shapes', () => {
  for (const name of SAMPLER_NAMES) {
    for (const steps of [1, 4, 30]) {
      const s = createSampler(name, modelConfig, steps);
      assert.equal(s.name, name);
      assert.equal(s.timesteps.length, s.order === 2 ? 2 * steps - 1 : steps, `${name} ${steps}`);
      if (s.sigmas.length) assert.equal(s.sigmas.at(-1), 0, `${name} ends at sigma 0`);
      for (let i = 1; i < s.timesteps.length; i++)
        assert.ok(s.timesteps[i] < s.timesteps[i - 1], `${name} descending`);
    }
  }
  assert.throws(() => createSampler('lcm', modelConfig, 51), /original_inference_steps/);
});

test('default sampler follows the model scheduler class', () => {
  const table: [Record<string, unknown>, string][] = [
    [{ _class_name: 'PNDMScheduler' }, 'dpm++2m'],
    [{ _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true }, 'dpm++2m_karras'],
    [{ _class_name: 'EulerDiscreteScheduler' }, 'euler'],
    [{ _class_name: 'EulerAncestralDiscreteScheduler' }, 'euler_a'],
    [{ _class_name: 'LCMScheduler' }, 'lcm'],
    [{ _class_name: 'TCDScheduler' }, 'tcd'],
    [{ _class_name: 'DPMSolverSDEScheduler', use_karras_sigmas: true }, 'dpm++sde_karras'],
  ];
  for (const [json, want] of table) assert.equal(defaultSamplerFor(schedulerConfigFromDiffusers(json)), want);
  assert.equal(defaultSamplerFor(modelConfig), 'dpm++2m');
});

test('v-prediction denoisers invert v = alpha eps - sigma_vp x0 in both parameterisations', () => {
  const x0 = Float32Array.of(0.3, -1.2, 2);
  const eps = Float32Array.of(1, 0.5, -0.7);
  for (const sigma of [0.1, 1, 7.5]) {
    const [alpha, sigmaVp] = alphaSigmaFromSigma(sigma);
    const v = x0.map((x, k) => alpha * eps[k] - sigmaVp * x);
    const xVe = x0.map((x, k) => x + sigma * eps[k]); // sigma space
    const xVp = x0.map((x, k) => alpha * x + sigmaVp * eps[k]); // alpha/sigma space
    const a = denoiseSigmaSpace(v, xVe, sigma, 'v_prediction', new Float32Array(3));
    const b = denoiseVp(v, xVp, alpha, sigmaVp, 'v_prediction', new Float32Array(3));
    for (let k = 0; k < 3; k++) {
      assert.ok(Math.abs(a[k] - x0[k]) < 1e-5 * (1 + sigma), `ve ${sigma}`);
      assert.ok(Math.abs(b[k] - x0[k]) < 1e-5, `vp ${sigma}`);
    }
  }
  const epsModel = denoiseSigmaSpace(
    eps,
    x0.map((x, k) => x + 2 * eps[k]),
    2,
    'epsilon',
    new Float32Array(3),
  );
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(epsModel[k] - x0[k]) < 1e-6);
  assert.equal(SD15_SCHEDULER_CONFIG.predictionType, 'epsilon');
});

test('timestep_spacing: from the config, else diffusers default linspace; an explicit option wins', () => {
  const noKey = schedulerConfigFromDiffusers({ _class_name: 'PNDMScheduler', steps_offset: 1 });
  assert.equal(noKey.timestepSpacing, undefined);
  assert.deepEqual(Array.from(createSampler('euler', noKey, 4).timesteps), [999, 666, 333, 0]);
  assert.deepEqual(Array.from(createSampler('euler', modelConfig, 4).timesteps), [751, 501, 251, 1]);
  assert.deepEqual(
    Array.from(createSampler('euler', modelConfig, 4, { spacing: 'trailing' }).timesteps),
    [999, 749, 499, 249],
  );
  assert.throws(() => schedulerConfigFromDiffusers({ timestep_spacing: 'sideways' }), /timestep_spacing/);
});

test('every sampler runs 1, 2 and 7 steps to a finite result; stepping in place equals stepping out of place', () => {
  for (const name of SAMPLER_NAMES) {
    for (const steps of [1, 2, 7]) {
      const run = (inPlace: boolean) => {
        const s = createSampler(name, modelConfig, steps, { noiseSeed: 3 });
        const gen = new TorchGenerator(5);
        let x: Float32Array = new TorchGenerator(4).randn([2, 4, 8, 8]).map((v) => v * s.initNoiseSigma);
        for (let i = 0; i < s.timesteps.length; i++) {
          const eps = fakeModel(s.scaleModelInput(x, i), s.timesteps[i]);
          x = s.step(eps, i, x, gen, inPlace ? x : undefined);
        }
        return x;
      };
      const a = run(false);
      assert.ok(a.every(Number.isFinite), `${name} ${steps}`);
      assert.deepEqual(run(true), a, `${name} ${steps} in place`);
    }
  }
});
