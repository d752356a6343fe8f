// API sampler names -> sampler factories, and the model's default sampler.
// Names are the Astria `scheduler` values: euler, euler_a, dpm++2m_karras, dpm++sde_karras, dpm++2m,
// dpm++sde, lcm, tcd.

import type { SchedulerConfig, TimestepSpacing } from './config.ts';
import { createDpmpp2m } from './dpmpp-2m.ts';
import { createDpmppSde } from './dpmpp-sde.ts';
import { createEuler } from './euler.ts';
import { createEulerAncestral } from './euler-ancestral.ts';
import { createLcm } from './lcm.ts';
import type { Sampler, SamplerName } from './sampler.ts';
import { createTcd } from './tcd.ts';

export const SAMPLER_NAMES: readonly SamplerName[] = [
  'euler',
  'euler_a',
  'dpm++2m_karras',
  'dpm++sde_karras',
  'dpm++2m',
  'dpm++sde',
  'lcm',
  'tcd',
];

/** What EulerDiscrete, EulerAncestralDiscrete, DPMSolverMultistep and DPMSolverSDE use without a config value. */
export const DIFFUSERS_DEFAULT_SPACING: TimestepSpacing = 'linspace';

export function isSamplerName(name: string): name is SamplerName {
  return (SAMPLER_NAMES as readonly string[]).includes(name);
}

export interface CreateSamplerOptions {
  /** Timestep spacing; defaults to the config's `timestep_spacing`, else diffusers' default (linspace). */
  spacing?: TimestepSpacing;
  /** Karras sigmas; implied by the *_karras names, otherwise defaults to the config's `use_karras_sigmas`. */
  karras?: boolean;
  /** DPM++ SDE: seed of the Brownian-tree noise (derive it from the prompt seed). */
  noiseSeed?: number | bigint;
  /** TCD: gamma (diffusers `eta`), default 0.3. */
  gamma?: number;
}

export function createSampler(
  name: SamplerName,
  config: SchedulerConfig,
  steps: number,
  opts: CreateSamplerOptions = {},
): Sampler {
  const spacing = opts.spacing ?? config.timestepSpacing ?? DIFFUSERS_DEFAULT_SPACING;
  const karrasDefault = opts.karras ?? config.useKarrasSigmas;
  switch (name) {
    case 'euler':
      return createEuler(config, steps, { spacing, karras: karrasDefault });
    case 'euler_a':
      return createEulerAncestral(config, steps, { spacing, karras: false });
    case 'dpm++2m':
      return createDpmpp2m(config, steps, { spacing, karras: opts.karras ?? false }, 'dpm++2m');
    case 'dpm++2m_karras':
      return createDpmpp2m(config, steps, { spacing, karras: true }, 'dpm++2m_karras');
    case 'dpm++sde':
      return createDpmppSde(config, steps, {
        spacing,
        karras: opts.karras ?? false,
        noiseSeed: opts.noiseSeed,
      });
    case 'dpm++sde_karras':
      return createDpmppSde(config, steps, { spacing, karras: true, noiseSeed: opts.noiseSeed });
    case 'lcm':
      return createLcm(config, steps);
    case 'tcd':
      return createTcd(config, steps, { gamma: opts.gamma });
  }
}

/**
 * The sampler a model runs when the request names none, from its scheduler config's class:
 * what the checkpoint's authors shipped (e.g. SD 1.5's PNDM -> dpm++2m, the closest multistep
 * solver we have; LCM / TCD distilled models -> lcm / tcd; Euler configs -> euler).
 */
export function defaultSamplerFor(config: SchedulerConfig): SamplerName {
  const cls = config.className ?? '';
  if (cls === 'LCMScheduler') return 'lcm';
  if (cls === 'TCDScheduler') return 'tcd';
  if (cls === 'EulerAncestralDiscreteScheduler') return 'euler_a';
  if (cls === 'EulerDiscreteScheduler') return 'euler';
  if (cls === 'DPMSolverSDEScheduler') return config.useKarrasSigmas ? 'dpm++sde_karras' : 'dpm++sde';
  // PNDM / DDIM / LMS / DPMSolverMultistep / unknown: multistep DPM-Solver++ 2M.
  return config.useKarrasSigmas ? 'dpm++2m_karras' : 'dpm++2m';
}

/** diffusers `spacing` property of a sampler: which spacing a fresh config gives it when none is set. */
export function samplerUsesTimestepSpacing(name: SamplerName): boolean {
  return name !== 'lcm' && name !== 'tcd';
}
