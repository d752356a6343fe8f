// Text -> encoder hidden states for the positive and negative prompts.
// Without use_lpw this is diffusers' StableDiffusionPipeline.encode_prompt: 77 ids (truncated, EOS kept last),
// text encoder last_hidden_state, and an empty negative prompt is encoded as "" (not zeros).

import type { Tensor } from '../components.ts';
import type { Conditioning, SdModel } from './types.ts';

/** Encodes one prompt to [1, tokens, hidden]. */
export type PromptEncoder = (model: SdModel, text: string) => Promise<Tensor>;

/** Plain CLIP encoding: one 77-token window (longer prompts are cut, as in diffusers without LPW). */
export const plainPromptEncoder: PromptEncoder = async (model, text) => {
  const ids = model.tokenizer.encode(text).inputIds;
  return model.clip.encode(ids);
};

export async function encodeConditioning(
  model: SdModel,
  text: string,
  negative: string,
  encoder: PromptEncoder = plainPromptEncoder,
): Promise<Conditioning> {
  const cond = await encoder(model, text);
  const uncond = await encoder(model, negative);
  return equalizeLength({ cond, uncond });
}

/**
 * Chunked prompts may give cond and uncond different token counts; the UNet batch needs one length, so the
 * shorter is extended with encodings of its own padding (A1111 pads the shorter prompt with empty chunks).
 * Here the shorter one repeats its last 77-token window, which keeps it a valid encoding of the same text.
 */
function equalizeLength(c: Conditioning): Conditioning {
  const a = c.cond.dims[1];
  const b = c.uncond.dims[1];
  if (a === b) return c;
  const extend = (t: Tensor, to: number): Tensor => {
    const [, n, h] = t.dims;
    const out = new Float32Array(to * h);
    out.set(t.data);
    const window = t.data.subarray((n - 77) * h, n * h);
    for (let o = n; o < to; o += 77) out.set(window.subarray(0, Math.min(77, to - o) * h), o * h);
    return { data: out, dims: [1, to, h] };
  };
  return a < b
    ? { cond: extend(c.cond, b), uncond: c.uncond }
    : { cond: c.cond, uncond: extend(c.uncond, a) };
}
