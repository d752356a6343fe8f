export { encodeConditioning } from './conditioning.ts';
export {
  decodeImageFile,
  decodeMaskFile,
  encodeImage,
  type ImageFormat,
  imageBytes,
  toByte,
} from './images.ts';
export { PerImageNoise } from './noise.ts';
export { PIPELINES, type Pipeline, runPipeline, type Task, taskFor } from './registry.ts';
export type { Conditioning, GenerateOptions, PipelineOutput, PipelineProgress, SdModel } from './types.ts';
