// checkLoraFile: a LoRA upload's structure (header, format, layer pairs, dtypes, ranks, alpha) and its fit to a
// base model's weight names and shapes, from the header only; messages name what is wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLoraFile, guessLoraArchitecture } from '../../../../src/engine/checkpoint/lora-check.ts';
import { parseSafetensorsBuffer } from '../../../../src/engine/checkpoint/safetensors.ts';
import type { TensorSource } from '../../../../src/engine/checkpoint/tensor-source.ts';
import { safetensorsBytes } from '../../../api/helpers.ts';

/** A base model of two weights: a linear [64, 32] and a 3x3 conv [16, 8, 3, 3]. */
function source(shapes: Record<string, number[]>): TensorSource {
  return {
    names: () => Object.keys(shapes),
    has: (n) => n in shapes,
    shape: (n) => shapes[n],
    read: () => {
      throw new Error('the check reads no weights');
    },
    identity: () => 'test',
  };
}
const base = {
  label: 'base model test',
  unet: source({ 'mid_block.attentions.0.proj_in.weight': [64, 32], 'conv_in.weight': [16, 8, 3, 3] }),
  text_encoder: source({ 'text_model.encoder.layers.0.self_attn.q_proj.weight': [24, 24] }),
};

/** A safetensors file with any dtypes (safetensorsBytes writes F32 only); data zero-filled. */
function withDtypes(tensors: { name: string; dtype: string; shape: number[]; bytes: number }[]): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes] };
    offset += t.bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(offset)]);
}

test('kohya, diffusers and PEFT layers that fit are summarised (format, layers per component, ranks)', () => {
  const kohya = safetensorsBytes([
    { name: 'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight', shape: [4, 32] },
    { name: 'lora_unet_mid_block_attentions_0_proj_in.lora_up.weight', shape: [64, 4] },
    { name: 'lora_unet_mid_block_attentions_0_proj_in.alpha', shape: [] },
    // LoCon: a 3x3 conv, down [r, in, 3, 3], up [out, r, 1, 1]
    { name: 'lora_unet_conv_in.lora_down.weight', shape: [2, 8, 3, 3] },
    { name: 'lora_unet_conv_in.lora_up.weight', shape: [16, 2, 1, 1] },
    { name: 'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight', shape: [4, 24] },
    { name: 'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight', shape: [24, 4] },
  ]);
  assert.deepEqual(checkLoraFile(kohya, 'f', base), {
    format: 'kohya',
    layers: { unet: 2, text_encoder: 1 },
    ranks: [2, 4],
  });
  const peft = safetensorsBytes([
    { name: 'unet.mid_block.attentions.0.proj_in.lora_A.weight', shape: [8, 32] },
    { name: 'unet.mid_block.attentions.0.proj_in.lora_B.weight', shape: [64, 8] },
  ]);
  assert.deepEqual(checkLoraFile(peft, 'f', base), { format: 'peft', layers: { unet: 1 }, ranks: [8] });
  const diffusers = safetensorsBytes([
    { name: 'unet.mid_block.attentions.0.proj_in.lora.down.weight', shape: [4, 32] },
    { name: 'unet.mid_block.attentions.0.proj_in.lora.up.weight', shape: [64, 4] },
  ]);
  assert.equal(checkLoraFile(diffusers, 'f', base).format, 'diffusers');
  // without a base model only the structure is checked: an unknown module passes
  const other = safetensorsBytes([
    { name: 'unet.somewhere.else.lora_A.weight', shape: [4, 10] },
    { name: 'unet.somewhere.else.lora_B.weight', shape: [10, 4] },
  ]);
  assert.equal(checkLoraFile(other, 'f').format, 'peft');
  assert.throws(() => checkLoraFile(other, 'f', base), /1 of 1 layers target modules it does not have/);
});

test('structure problems are named: integer matrices, non-scalar alpha, rank mismatch, vectors', () => {
  const k = 'lora_unet_mid_block_attentions_0_proj_in';
  const ints = withDtypes([
    { name: `${k}.lora_down.weight`, dtype: 'I32', shape: [4, 32], bytes: 512 },
    { name: `${k}.lora_up.weight`, dtype: 'F16', shape: [64, 4], bytes: 512 },
  ]);
  assert.throws(
    () => checkLoraFile(ints, 'lora_file'),
    /lora_file: 1 malformed LoRA layer\(s\): .*lora_down\.weight is I32, not a float type/,
  );
  const lone = safetensorsBytes([{ name: `${k}.lora_down.weight`, shape: [4, 32] }]);
  assert.throws(
    () => checkLoraFile(lone, 'f'),
    /has no lora_unet_mid_block_attentions_0_proj_in\.lora_up\.weight/,
  );
  const alpha = safetensorsBytes([
    { name: `${k}.lora_down.weight`, shape: [4, 32] },
    { name: `${k}.lora_up.weight`, shape: [64, 4] },
    { name: `${k}.alpha`, shape: [2] },
  ]);
  assert.throws(() => checkLoraFile(alpha, 'f'), /alpha is F32\[2\], not a float scalar/);
  const vec = safetensorsBytes([
    { name: `${k}.lora_down.weight`, shape: [4] },
    { name: `${k}.lora_up.weight`, shape: [64, 4] },
  ]);
  assert.throws(() => checkLoraFile(vec, 'f'), /are not matrices/);
  const convUp = safetensorsBytes([
    { name: `${k}.lora_down.weight`, shape: [4, 32] },
    { name: `${k}.lora_up.weight`, shape: [64, 4, 3, 3] },
  ]);
  assert.throws(() => checkLoraFile(convUp, 'f'), /does not match the rank 4/);
});

test('a layer whose output width differs from the base weight is named with both shapes', () => {
  const wrongOut = safetensorsBytes([
    { name: 'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight', shape: [4, 32] },
    { name: 'lora_unet_mid_block_attentions_0_proj_in.lora_up.weight', shape: [48, 4] },
  ]);
  assert.throws(
    () => checkLoraFile(wrongOut, 'lora_url', base),
    /lora_url: this kohya LoRA does not fit base model test: 1 layers have other shapes \(mid_block\.attentions\.0\.proj_in is \[64, 32\] in the base model, the LoRA's up \[48, 4\] · down \[4, 32\]\)/,
  );
});

test('the architecture guess reads the cross-attention width and second-text-encoder layers', () => {
  const guess = (specs: { name: string; shape: number[] }[]) =>
    guessLoraArchitecture(parseSafetensorsBuffer('x', safetensorsBytes(specs)).tensors);
  const k = (w: number) => [
    {
      name: 'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight',
      shape: [4, w],
    },
  ];
  assert.match(guess(k(768)) ?? '', /SD 1\.x/);
  assert.match(guess(k(1024)) ?? '', /SD 2\.x/);
  assert.match(guess(k(2048)) ?? '', /SDXL/);
  assert.match(guess([{ name: 'lora_te2_text_model_x.lora_down.weight', shape: [4, 4] }]) ?? '', /SDXL/);
  assert.match(
    guess([{ name: 'lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight', shape: [4, 4] }]) ?? '',
    /FLUX/,
  );
  assert.equal(guess([{ name: 'lora_unet_conv_in.lora_down.weight', shape: [4, 4] }]), null);
});
