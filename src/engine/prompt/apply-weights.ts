// Applying per-token prompt weights to text-encoder outputs.
// Ref: stable-diffusion-webui modules/sd_hijack_clip.py (process_tokens): z = encoder(chunk);
// original_mean = z.mean(); z *= weights[:, None]; z *= original_mean / z.mean() - done per 77-token
// chunk, since each chunk is encoded separately. diffusers' community lpw_stable_diffusion does the
// same over the concatenation of all chunks ("sequence" scope below).
// Convention here: per chunk (A1111), the default. Why: it is what users of the (word:1.3) syntax
// tuned their prompts against, and a chunk's rescale then does not depend on how long the rest of
// the prompt is. The mean restore keeps the overall embedding magnitude (which the UNet is sensitive
// to) while the relative emphasis between tokens changes.

import type { PromptChunk } from './chunks.ts';

export type MeanScope = 'chunk' | 'sequence';

/**
 * In place on `hidden` = the encoder outputs of `chunks`, concatenated: [chunks.length * 77, hiddenSize]
 * row-major (one batch item). Returns `hidden`.
 */
export function applyPromptWeights(
  hidden: Float32Array,
  chunks: readonly PromptChunk[],
  hiddenSize: number,
  scope: MeanScope = 'chunk',
): Float32Array {
  const rows = chunks.reduce((n, c) => n + c.weights.length, 0);
  if (hidden.length !== rows * hiddenSize) {
    throw new Error(`hidden states have ${hidden.length} values, want ${rows} tokens x ${hiddenSize}`);
  }
  if (scope === 'sequence') {
    const weights = new Float32Array(rows);
    let r = 0;
    for (const c of chunks) {
      weights.set(c.weights, r);
      r += c.weights.length;
    }
    weightAndRestoreMean(hidden, weights, hiddenSize);
    return hidden;
  }
  let offset = 0;
  for (const c of chunks) {
    const len = c.weights.length * hiddenSize;
    weightAndRestoreMean(hidden.subarray(offset, offset + len), c.weights, hiddenSize);
    offset += len;
  }
  return hidden;
}

function weightAndRestoreMean(z: Float32Array, weights: Float32Array, hiddenSize: number): void {
  let before = 0;
  for (let k = 0; k < z.length; k++) before += z[k];
  let after = 0;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    const base = t * hiddenSize;
    for (let d = 0; d < hiddenSize; d++) {
      const v = Math.fround(z[base + d] * w);
      z[base + d] = v;
      after += v;
    }
  }
  // Means share the element count, so the ratio of sums is the ratio of means.
  if (after === 0 || !Number.isFinite(before / after)) return;
  const scale = Math.fround(before / after);
  for (let k = 0; k < z.length; k++) z[k] *= scale;
}
