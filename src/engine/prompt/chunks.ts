// Prompt -> CLIP token chunks of 77 ids with one weight per token.
// Ref: stable-diffusion-webui modules/sd_hijack_clip.py (FrozenCLIPEmbedderWithCustomWordsBase
// .tokenize_line): each weighted fragment is tokenized on its own, tokens fill 75-token windows
// (BREAK closes the current window early), each window is padded to 75 with the pad id and wrapped
// as [BOS] tokens [EOS] -> 77 ids; BOS / EOS / padding carry weight 1. A1111's optional
// "comma backtrack" (moving the tail after the last comma to the next window) is not applied.
// Plain prompts (use_lpw off) use the same windows with every weight 1, so prompts longer than 77
// tokens are encoded in 77-token chunks instead of being cut.

import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { type ParseOptions, parsePromptAttention } from './attention-parser.ts';

export const CHUNK_TOKENS = 75;
export const CHUNK_LENGTH = CHUNK_TOKENS + 2;

export interface PromptChunk {
  /** 77 ids: BOS, up to 75 prompt tokens, EOS, padding. */
  ids: Int32Array;
  /** One weight per id (1 for BOS, EOS and padding). */
  weights: Float32Array;
  /** How many of the 75 slots hold prompt tokens. */
  tokenCount: number;
}

export interface ChunkOptions extends ParseOptions {
  /** Hard cap on the number of chunks (extra tokens are dropped); default unlimited. */
  maxChunks?: number;
}

type Tok = Pick<ClipTokenizer, 'bosId' | 'eosId' | 'padId' | 'encodeIds'>;

function buildChunks(
  tok: Tok,
  pieces: { ids: number[]; weight: number; isBreak?: boolean }[],
  opts: ChunkOptions,
) {
  const chunks: PromptChunk[] = [];
  let ids: number[] = [];
  let weights: number[] = [];
  const close = () => {
    const chunk: PromptChunk = {
      ids: new Int32Array(CHUNK_LENGTH).fill(tok.padId),
      weights: new Float32Array(CHUNK_LENGTH).fill(1),
      tokenCount: ids.length,
    };
    chunk.ids[0] = tok.bosId;
    chunk.ids.set(ids, 1);
    chunk.weights.set(weights, 1);
    // EOS right after the tokens, padding after it (SD1's pad id is EOS itself, so the window ends in EOS).
    chunk.ids[1 + ids.length] = tok.eosId;
    chunks.push(chunk);
    ids = [];
    weights = [];
  };
  for (const piece of pieces) {
    if (piece.isBreak) {
      close();
      continue;
    }
    for (const id of piece.ids) {
      if (ids.length === CHUNK_TOKENS) close();
      ids.push(id);
      weights.push(piece.weight);
    }
  }
  if (ids.length > 0 || chunks.length === 0) close();
  return opts.maxChunks !== undefined ? chunks.slice(0, Math.max(1, opts.maxChunks)) : chunks;
}

/** use_lpw: parse the weighting syntax, then chunk. */
export function weightedPromptChunks(tok: Tok, text: string, opts: ChunkOptions = {}): PromptChunk[] {
  const pieces = parsePromptAttention(text, opts).map((frag) => ({
    ids: frag.isBreak ? [] : tok.encodeIds(frag.text),
    weight: frag.weight,
    isBreak: frag.isBreak,
  }));
  return buildChunks(tok, pieces, opts);
}

/** Plain prompt (no weighting syntax): the whole text tokenized once, chunked, all weights 1. */
export function plainPromptChunks(tok: Tok, text: string, opts: Omit<ChunkOptions, 'breakKeyword'> = {}) {
  return buildChunks(tok, [{ ids: tok.encodeIds(text), weight: 1 }], opts);
}

/**
 * Classifier-free guidance needs the positive and negative embeddings to have the same length:
 * pad the shorter list with empty chunks ([BOS] [EOS] + padding), as A1111 does.
 */
export function equalizeChunkCounts(
  tok: Tok,
  a: PromptChunk[],
  b: PromptChunk[],
): [PromptChunk[], PromptChunk[]] {
  const n = Math.max(a.length, b.length);
  const pad = (list: PromptChunk[]) => {
    const out = list.slice();
    while (out.length < n) out.push(buildChunks(tok, [], {})[0]);
    return out;
  };
  return [pad(a), pad(b)];
}
