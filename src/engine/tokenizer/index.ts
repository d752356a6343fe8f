export { BytePairEncoder } from './bpe.ts';
export {
  BOS_TOKEN,
  CLIP_MAX_LENGTH,
  type ClipEncoding,
  ClipTokenizer,
  type ClipTokenizerFiles,
  type ClipTokenizerVariant,
  EOS_TOKEN,
} from './clip-tokenizer.ts';
export { fixText, whitespaceClean } from './text-cleanup.ts';
