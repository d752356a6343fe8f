import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  convertTensorName,
  layoutFromKeys,
  type ModelFamily,
  UnsupportedCheckpointError,
} from '../../../../src/engine/checkpoint/names.ts';
import { type OpenedCheckpoint, openCheckpoint } from '../../../../src/engine/checkpoint/open.ts';
import { MODEL_DIR, SINGLE_FILE } from '../parity.ts';

describe('convertTensorName (data table)', () => {
  const table: [string, ModelFamily, string | null][] = [
    ['model.diffusion_model.time_embed.0.weight', 'unet', 'time_embedding.linear_1.weight'],
    ['model.diffusion_model.time_embed.2.bias', 'unet', 'time_embedding.linear_2.bias'],
    ['model.diffusion_model.input_blocks.0.0.weight', 'unet', 'conv_in.weight'],
    [
      'model.diffusion_model.input_blocks.1.0.in_layers.0.weight',
      'unet',
      'down_blocks.0.resnets.0.norm1.weight',
    ],
    [
      'model.diffusion_model.input_blocks.2.0.emb_layers.1.bias',
      'unet',
      'down_blocks.0.resnets.1.time_emb_proj.bias',
    ],
    ['model.diffusion_model.input_blocks.3.0.op.weight', 'unet', 'down_blocks.0.downsamplers.0.conv.weight'],
    [
      'model.diffusion_model.input_blocks.4.0.skip_connection.weight',
      'unet',
      'down_blocks.1.resnets.0.conv_shortcut.weight',
    ],
    [
      'model.diffusion_model.input_blocks.5.1.proj_in.weight',
      'unet',
      'down_blocks.1.attentions.1.proj_in.weight',
    ],
    [
      'model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight',
      'unet',
      'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight',
    ],
    ['model.diffusion_model.middle_block.2.out_layers.3.weight', 'unet', 'mid_block.resnets.1.conv2.weight'],
    ['model.diffusion_model.output_blocks.2.1.conv.weight', 'unet', 'up_blocks.0.upsamplers.0.conv.weight'],
    ['model.diffusion_model.output_blocks.5.2.conv.bias', 'unet', 'up_blocks.1.upsamplers.0.conv.bias'],
    ['model.diffusion_model.output_blocks.5.1.norm.weight', 'unet', 'up_blocks.1.attentions.2.norm.weight'],
    ['model.diffusion_model.out.0.weight', 'unet', 'conv_norm_out.weight'],
    ['model.diffusion_model.out.2.bias', 'unet', 'conv_out.bias'],
    [
      'first_stage_model.encoder.down.1.block.0.nin_shortcut.weight',
      'vae',
      'encoder.down_blocks.1.resnets.0.conv_shortcut.weight',
    ],
    [
      'first_stage_model.encoder.down.0.downsample.conv.weight',
      'vae',
      'encoder.down_blocks.0.downsamplers.0.conv.weight',
    ],
    [
      'first_stage_model.decoder.up.3.block.2.conv1.weight',
      'vae',
      'decoder.up_blocks.0.resnets.2.conv1.weight',
    ],
    [
      'first_stage_model.decoder.up.1.upsample.conv.bias',
      'vae',
      'decoder.up_blocks.2.upsamplers.0.conv.bias',
    ],
    [
      'first_stage_model.decoder.mid.attn_1.proj_out.weight',
      'vae',
      'decoder.mid_block.attentions.0.to_out.0.weight',
    ],
    [
      'first_stage_model.encoder.mid.attn_1.norm.bias',
      'vae',
      'encoder.mid_block.attentions.0.group_norm.bias',
    ],
    ['first_stage_model.encoder.norm_out.weight', 'vae', 'encoder.conv_norm_out.weight'],
    ['first_stage_model.post_quant_conv.weight', 'vae', 'post_quant_conv.weight'],
    [
      'cond_stage_model.transformer.text_model.encoder.layers.3.mlp.fc1.weight',
      'text_encoder',
      'text_model.encoder.layers.3.mlp.fc1.weight',
    ],
    [
      'cond_stage_model.transformer.embeddings.token_embedding.weight',
      'text_encoder',
      'text_model.embeddings.token_embedding.weight',
    ],
    ['model_ema.diffusion_modelinput_blocks00weight', 'unet', null],
    ['alphas_cumprod', 'unet', null],
    ['first_stage_model.encoder.conv_in.weight', 'unet', null],
  ];
  for (const [key, family, expected] of table) {
    it(`${key} (${family}) -> ${expected}`, () => assert.equal(convertTensorName(key, family), expected));
  }

  it('rejects an OpenCLIP (SD 2.x) text encoder with a message naming it', () => {
    assert.throws(
      () =>
        convertTensorName(
          'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight',
          'text_encoder',
        ),
      (e: Error) => e instanceof UnsupportedCheckpointError && /OpenCLIP.*2\.x/.test(e.message),
    );
  });

  it('derives the layout facts from the keys', () => {
    assert.deepEqual(
      layoutFromKeys([
        'model.diffusion_model.input_blocks.4.0.op.weight',
        'first_stage_model.decoder.up.2.block.0.conv1.weight',
      ]),
      { unetLayersPerBlock: 3, vaeLevels: 3 },
    );
  });
});

describe('single-file checkpoint vs diffusers folder', () => {
  let folder: OpenedCheckpoint;
  let single: OpenedCheckpoint;
  before(() => {
    folder = openCheckpoint(MODEL_DIR());
    single = openCheckpoint(SINGLE_FILE());
  });
  after(() => {
    folder.close();
    single.close();
  });

  for (const family of ['unet', 'vae', 'text_encoder'] as const) {
    it(`maps every ${family} tensor to the same name, shape and values`, () => {
      const a = folder[family]!.source;
      const b = single[family]!.source;
      const expected = a
        .names()
        .filter((n) => !n.endsWith('position_ids'))
        .sort();
      assert.deepEqual(b.names().sort(), expected);
      for (const name of expected) {
        assert.deepEqual(b.shape(name), a.shape(name), name);
        assert.deepEqual(b.read(name), a.read(name), name);
      }
    });
  }
});
