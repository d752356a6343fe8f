export { applyPromptWeights, type MeanScope } from './apply-weights.ts';
export { type ParseOptions, type PromptFragment, parsePromptAttention } from './attention-parser.ts';
export {
  CHUNK_LENGTH,
  CHUNK_TOKENS,
  type ChunkOptions,
  equalizeChunkCounts,
  type PromptChunk,
  plainPromptChunks,
  weightedPromptChunks,
} from './chunks.ts';
