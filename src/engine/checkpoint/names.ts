// Original (CompVis / A1111 single-file) tensor names -> diffusers names.
// Ref: https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/pipelines/stable_diffusion/convert_from_ckpt.py
// (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint); the mapping below is written from the
// structure of both layouts, not copied.

export type ModelFamily = 'unet' | 'vae' | 'text_encoder';

export const ORIGINAL_PREFIX: Record<ModelFamily, string> = {
  unet: 'model.diffusion_model.',
  vae: 'first_stage_model.',
  text_encoder: 'cond_stage_model.transformer.',
};

/** Structural facts the mapping needs; derive them with `layoutFromKeys`. */
export interface OriginalLayout {
  /** resnets per UNet down block (SD1.5: 2); an up block has one more */
  unetLayersPerBlock: number;
  /** number of VAE resolution levels (SD1.5: 4); the decoder's `up.N` counts from the lowest resolution */
  vaeLevels: number;
}

export const SD15_LAYOUT: OriginalLayout = { unetLayersPerBlock: 2, vaeLevels: 4 };

export class UnsupportedCheckpointError extends Error {
  override name = 'UnsupportedCheckpointError';
}

/** Reads the structural facts from the original key names. */
export function layoutFromKeys(keys: Iterable<string>): OriginalLayout {
  let firstDownsampler = Number.POSITIVE_INFINITY;
  let maxUp = -1;
  for (const k of keys) {
    const m = /^model\.diffusion_model\.input_blocks\.(\d+)\.0\.op\./.exec(k);
    if (m) firstDownsampler = Math.min(firstDownsampler, Number(m[1]));
    const u = /^first_stage_model\.decoder\.up\.(\d+)\./.exec(k);
    if (u) maxUp = Math.max(maxUp, Number(u[1]));
  }
  return {
    unetLayersPerBlock: Number.isFinite(firstDownsampler)
      ? firstDownsampler - 1
      : SD15_LAYOUT.unetLayersPerBlock,
    vaeLevels: maxUp >= 0 ? maxUp + 1 : SD15_LAYOUT.vaeLevels,
  };
}

const RESNET_UNET: Record<string, string> = {
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
};

function renameUnetResnet(rest: string): string {
  for (const [from, to] of Object.entries(RESNET_UNET)) {
    if (rest === from || rest.startsWith(`${from}.`)) return to + rest.slice(from.length);
  }
  return rest;
}

function convertUnet(key: string, layout: OriginalLayout): string | null {
  const L = layout.unetLayersPerBlock;
  let m: RegExpExecArray | null;
  if ((m = /^time_embed\.(0|2)\.(.+)$/.exec(key)))
    return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = /^input_blocks\.0\.0\.(.+)$/.exec(key))) return `conv_in.${m[1]}`;
  if ((m = /^out\.(0|2)\.(.+)$/.exec(key))) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  if ((m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(key))) {
    const n = Number(m[1]) - 1;
    const block = Math.floor(n / (L + 1));
    const j = n % (L + 1);
    if (j === L)
      return m[3].startsWith('op.') ? `down_blocks.${block}.downsamplers.0.conv.${m[3].slice(3)}` : null;
    if (m[2] === '0') return `down_blocks.${block}.resnets.${j}.${renameUnetResnet(m[3])}`;
    return `down_blocks.${block}.attentions.${j}.${m[3]}`;
  }
  if ((m = /^middle_block\.(\d)\.(.+)$/.exec(key))) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]}`;
    return `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${renameUnetResnet(m[2])}`;
  }
  if ((m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(key))) {
    const n = Number(m[1]);
    const block = Math.floor(n / (L + 1));
    const j = n % (L + 1);
    if (m[2] === '0') return `up_blocks.${block}.resnets.${j}.${renameUnetResnet(m[3])}`;
    // sub-module 1 is the attention when there is one, otherwise the upsampler; 2 is always the upsampler
    if (/^conv\./.test(m[3])) return `up_blocks.${block}.upsamplers.0.${m[3]}`;
    return `up_blocks.${block}.attentions.${j}.${m[3]}`;
  }
  return null;
}

const VAE_ATTN: Record<string, string> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};

function renameVaeResnet(rest: string): string {
  return rest.startsWith('nin_shortcut.') ? `conv_shortcut.${rest.slice('nin_shortcut.'.length)}` : rest;
}

function convertVae(key: string, layout: OriginalLayout): string | null {
  let m: RegExpExecArray | null;
  if (/^(quant_conv|post_quant_conv)\./.test(key)) return key;
  if (!(m = /^(encoder|decoder)\.(.+)$/.exec(key))) return null;
  const part = m[1];
  const rest = m[2];
  if (/^conv_(in|out)\./.test(rest)) return key;
  if ((m = /^norm_out\.(.+)$/.exec(rest))) return `${part}.conv_norm_out.${m[1]}`;
  if ((m = /^mid\.block_(1|2)\.(.+)$/.exec(rest))) {
    return `${part}.mid_block.resnets.${Number(m[1]) - 1}.${renameVaeResnet(m[2])}`;
  }
  if ((m = /^mid\.attn_1\.(norm|q|k|v|proj_out)\.(.+)$/.exec(rest))) {
    return `${part}.mid_block.attentions.0.${VAE_ATTN[m[1]]}.${m[2]}`;
  }
  if ((m = /^down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest))) {
    return `${part}.down_blocks.${m[1]}.resnets.${m[2]}.${renameVaeResnet(m[3])}`;
  }
  if ((m = /^down\.(\d+)\.downsample\.conv\.(.+)$/.exec(rest)))
    return `${part}.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  // the original decoder counts `up.N` from the lowest resolution; diffusers' up_blocks from the highest
  if ((m = /^up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest))) {
    return `${part}.up_blocks.${layout.vaeLevels - 1 - Number(m[1])}.resnets.${m[2]}.${renameVaeResnet(m[3])}`;
  }
  if ((m = /^up\.(\d+)\.upsample\.conv\.(.+)$/.exec(rest))) {
    return `${part}.up_blocks.${layout.vaeLevels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  }
  return null;
}

function convertTextEncoder(key: string): string | null {
  if (key.startsWith('text_model.')) return key;
  // very old checkpoints omit the `text_model.` level
  if (/^(embeddings|encoder|final_layer_norm)\./.test(key)) return `text_model.${key}`;
  return null;
}

/**
 * Maps one key of an original single-file checkpoint to the diffusers name inside the given component,
 * or null when the key does not belong to that component (EMA copies, schedule buffers, other parts).
 */
export function convertTensorName(
  key: string,
  family: ModelFamily,
  layout: OriginalLayout = SD15_LAYOUT,
): string | null {
  if (family === 'text_encoder' && key.startsWith('cond_stage_model.model.')) {
    throw new UnsupportedCheckpointError(
      'this checkpoint has an OpenCLIP text encoder (cond_stage_model.model.*, Stable Diffusion 2.x) in a single file; SD 2.x is served from a diffusers folder only (model_index.json, text_encoder/, tokenizer/, unet/, vae/, scheduler/; e.g. `atelier models pull sd-turbo`)',
    );
  }
  const prefix = ORIGINAL_PREFIX[family];
  if (!key.startsWith(prefix)) return null;
  const rest = key.slice(prefix.length);
  if (family === 'unet') return convertUnet(rest, layout);
  if (family === 'vae') return convertVae(rest, layout);
  return convertTextEncoder(rest);
}
