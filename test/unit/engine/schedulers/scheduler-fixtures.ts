// Loading of refs/schedulers/*.json for the scheduler tests.
import { readFileSync } from 'node:fs';
import { fixturePath } from '../../../helpers/fixtures.ts';

export interface TensorRef {
  shape: number[];
  data: number[];
}
export interface StepRef {
  i: number;
  t: number;
  scale_model_input_factor: number;
  prev_sample: TensorRef;
  denoised?: TensorRef;
  noise?: TensorRef[];
  noise_sigma_interval?: [number, number][] | null;
}
export interface RunRef {
  timestep_spacing: 'leading' | 'trailing' | 'linspace';
  num_inference_steps: number;
  config: Record<string, unknown>;
  timesteps: number[];
  timesteps_dtype: string;
  sigmas?: number[];
  init_noise_sigma: number;
  x_init: TensorRef;
  generator_seed: number;
  noise_sampler?: { sigma_min: number; sigma_max: number };
  stochastic: boolean;
  steps: StepRef[];
}
export interface SchedulerFileRef {
  scheduler: string;
  extra_config: Record<string, unknown>;
  initial_noise: TensorRef;
  runs: RunRef[];
}

/** The files hold `-Infinity` (lambda_min_clipped), which JSON.parse rejects; it is not used here. */
export function loadSchedulerRef(key: string): SchedulerFileRef {
  const text = readFileSync(fixturePath('sd-reference', 'refs', 'schedulers', `${key}.json`), 'utf8');
  return JSON.parse(text.replace(/-?Infinity|NaN/g, 'null')) as SchedulerFileRef;
}

export function loadSchedulerIndex(): { base_config: Record<string, unknown>; alphas_cumprod: TensorRef } {
  return loadSchedulerRef('index') as unknown as {
    base_config: Record<string, unknown>;
    alphas_cumprod: TensorRef;
  };
}

export const f32 = (data: ArrayLike<number>): Float32Array =>
  Float32Array.from(data as ArrayLike<number>, Math.fround);

/** The fixtures' stand-in model: eps = 0.1 * x_in + 0.001 * t (float32; 0.001 * t taken in double, then cast). */
export function fakeModel(xIn: Float32Array, t: number): Float32Array {
  const c = Math.fround(0.1);
  const b = Math.fround(0.001 * t);
  return xIn.map((v) => Math.fround(Math.fround(c * v) + b));
}

/** Index of the first differing value, or -1. */
export function firstMismatch(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return 0;
  for (let k = 0; k < expected.length; k++) if (!Object.is(actual[k], expected[k])) return k;
  return -1;
}
