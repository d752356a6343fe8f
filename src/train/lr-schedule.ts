// Learning-rate schedules as pure functions of the 1-based optimiser step.
// Ref: diffusers.optimization get_constant_schedule_with_warmup / get_cosine_schedule_with_warmup
// (linear warmup from 0, then constant or half a cosine down to 0); Loshchilov & Hutter 2017 (SGDR) for
// the cosine shape.

export type LrScheduleKind = 'constant' | 'constant_with_warmup' | 'cosine';

export interface LrSchedule {
  kind: LrScheduleKind;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** learning rate used for optimiser step `step` (1-based) */
export function learningRate(s: LrSchedule, step: number): number {
  const k = step - 1; // steps completed before this one, as the torch LambdaLR counts
  if (s.kind !== 'constant' && k < s.warmupSteps) return (s.baseLr * k) / Math.max(1, s.warmupSteps);
  if (s.kind === 'cosine') {
    const progress = (k - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
    return s.baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  }
  return s.baseLr;
}
