// Text -> encoder hidden states for the positive and negative prompts, with the prompt module's chunking
// (src/engine/prompt, docs/schedulers.md "Prompt weighting"): every prompt becomes 77-id windows
// ([BOS] up to 75 tokens [EOS] padding), so prompts over 77 tokens are encoded in chunks instead of being cut;
// with use_lpw the A1111 weighting syntax is parsed and the weights applied per chunk with the mean restored.
// A prompt of at most 75 tokens is exactly diffusers' encode_prompt (one window; an empty negative prompt is
// encoded as "", not zeros); refs/pipeline_txt2img.json checks that.

import type { Tensor } from '../components.ts';
import {
  applyPromptWeights,
  equalizeChunkCounts,
  type PromptChunk,
  plainPromptChunks,
  weightedPromptChunks,
} from '../prompt/index.ts';
import type { Conditioning, SdModel } from './types.ts';

async function encodeChunks(model: SdModel, chunks: PromptChunk[], weighted: boolean): Promise<Tensor> {
  // all windows in one text-encoder batch: [n, 77, H] is row-major the same as [1, n * 77, H]
  const hidden = await model.clip.encode(chunks.map((c) => c.ids));
  const [n, len, h] = hidden.dims;
  if (weighted) applyPromptWeights(hidden.data, chunks, h);
  return { data: hidden.data, dims: [1, n * len, h] };
}

export async function encodeConditioning(
  model: SdModel,
  text: string,
  negative: string,
  useLpw = false,
): Promise<Conditioning> {
  const tok = model.tokenizer;
  const chunk = (t: string) => (useLpw ? weightedPromptChunks(tok, t) : plainPromptChunks(tok, t));
  const [pos, neg] = equalizeChunkCounts(tok, chunk(text), chunk(negative));
  return { cond: await encodeChunks(model, pos, useLpw), uncond: await encodeChunks(model, neg, useLpw) };
}
