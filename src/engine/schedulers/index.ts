export { BrownianNoiseSampler, BrownianPath } from './brownian.ts';
export {
  type PredictionType,
  type SchedulerConfig,
  SD15_SCHEDULER_CONFIG,
  schedulerConfigFromDiffusers,
  type TimestepSpacing,
} from './config.ts';
export { type Img2ImgStart, img2imgLatents, img2imgStart } from './img2img.ts';
export { alphasCumprodFor, karrasSigmas, trainingSigmas } from './noise-schedule.ts';
export {
  type CreateSamplerOptions,
  createSampler,
  defaultSamplerFor,
  isSamplerName,
  SAMPLER_NAMES,
} from './registry.ts';
export { type Denoise, sample } from './sample-loop.ts';
export type { NoiseSource, Sampler, SamplerName, StepNoise } from './sampler.ts';
