// Scheduler configuration, read from a diffusers `scheduler/scheduler_config.json`.
// Only the fields the samplers here use; unknown fields are ignored.

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction';
export type BetaSchedule = 'scaled_linear' | 'linear';

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  predictionType: PredictionType;
  /**
   * `timestep_spacing` of the config; undefined when the config has none (older SD 1.x configs), in which
   * case each sampler uses the default its diffusers class has ("linspace" for all samplers here).
   */
  timestepSpacing?: TimestepSpacing;
  stepsOffset: number;
  /** LCM / TCD: the number of steps the consistency model was distilled with. */
  originalInferenceSteps: number;
  /** LCM / TCD boundary-condition time scaling. */
  timestepScaling: number;
  /** The `_class_name` of the config, e.g. "PNDMScheduler" (decides the model's default sampler). */
  className?: string;
  /** `use_karras_sigmas` as written in the config. */
  useKarrasSigmas: boolean;
}

/** SD 1.5 (the fixture model's scheduler_config.json as current diffusers writes it, spacing "leading"). */
export const SD15_SCHEDULER_CONFIG: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 1,
  originalInferenceSteps: 50,
  timestepScaling: 10,
  useKarrasSigmas: false,
};

/** Reads a diffusers scheduler_config.json object (snake_case) on top of the SD 1.5 defaults. */
export function schedulerConfigFromDiffusers(json: Record<string, unknown>): SchedulerConfig {
  const num = (k: string, d: number) => (typeof json[k] === 'number' ? (json[k] as number) : d);
  const str = <T extends string>(k: string, allowed: readonly T[], d: T): T => {
    const v = json[k];
    if (v === undefined || v === null) return d;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    throw new Error(`scheduler config: unsupported ${k} ${JSON.stringify(v)}`);
  };
  const base = SD15_SCHEDULER_CONFIG;
  return {
    numTrainTimesteps: num('num_train_timesteps', base.numTrainTimesteps),
    betaStart: num('beta_start', base.betaStart),
    betaEnd: num('beta_end', base.betaEnd),
    betaSchedule: str('beta_schedule', ['scaled_linear', 'linear'] as const, base.betaSchedule),
    predictionType: str('prediction_type', ['epsilon', 'v_prediction'] as const, base.predictionType),
    timestepSpacing:
      json.timestep_spacing === undefined || json.timestep_spacing === null
        ? undefined
        : str('timestep_spacing', ['leading', 'trailing', 'linspace'] as const, 'linspace'),
    stepsOffset: num('steps_offset', base.stepsOffset),
    originalInferenceSteps: num('original_inference_steps', base.originalInferenceSteps),
    timestepScaling: num('timestep_scaling', base.timestepScaling),
    className: typeof json._class_name === 'string' ? json._class_name : undefined,
    useKarrasSigmas: json.use_karras_sigmas === true,
  };
}
