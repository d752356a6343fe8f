import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type OpenedCheckpoint, openCheckpoint } from '../../../../src/engine/checkpoint/open.ts';
import {
  clipConfigFromJson,
  clipTensorShapes,
  detectClipConfig,
  SD15_CLIP,
} from '../../../../src/engine/models/clip.ts';
import {
  detectUnetConfig,
  SD15_UNET,
  timestepFrequencies,
  unetConfigFromJson,
  unetSkipCount,
  unetTensorShapes,
} from '../../../../src/engine/models/unet.ts';
import {
  detectVaeConfig,
  SD15_VAE,
  vaeConfigFromJson,
  vaeTensorShapes,
} from '../../../../src/engine/models/vae.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { MODEL_DIR } from '../parity.ts';

describe('config detection from tensor shapes agrees with config.json', () => {
  let ck: OpenedCheckpoint;
  before(() => {
    ck = openCheckpoint(MODEL_DIR());
  });
  after(() => ck.close());

  it('UNet', () => {
    const fromJson = unetConfigFromJson(ck.unet!.configJson!);
    assert.deepEqual(detectUnetConfig(ck.unet!.source), fromJson);
    assert.deepEqual(fromJson.headCounts, [8, 8, 8, 8]);
    assert.equal(unetSkipCount(fromJson), 12);
  });
  it('VAE', () => {
    assert.deepEqual(detectVaeConfig(ck.vae!.source), vaeConfigFromJson(ck.vae!.configJson!));
  });
  it('CLIP', () => {
    assert.deepEqual(
      detectClipConfig(ck.text_encoder!.source),
      clipConfigFromJson(ck.text_encoder!.configJson!),
    );
  });
  it('works under a key prefix', () => {
    const prefixed = {
      names: () => ck.vae!.source.names().map((n) => `vae.${n}`),
      has: (n: string) => n.startsWith('vae.') && ck.vae!.source.has(n.slice(4)),
      shape: (n: string) => ck.vae!.source.shape(n.slice(4)),
    };
    assert.deepEqual(detectVaeConfig(prefixed, 'vae.'), detectVaeConfig(ck.vae!.source));
  });
});

describe('UNet config from diffusers json', () => {
  it('reads SD 2.x style per-level head counts and linear projections', () => {
    const cfg = unetConfigFromJson({
      block_out_channels: [320, 640, 1280, 1280],
      down_block_types: [
        'CrossAttnDownBlock2D',
        'CrossAttnDownBlock2D',
        'CrossAttnDownBlock2D',
        'DownBlock2D',
      ],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      attention_head_dim: [5, 10, 20, 20],
      use_linear_projection: true,
      in_channels: 4,
      out_channels: 4,
      layers_per_block: 2,
      cross_attention_dim: 1024,
    });
    assert.deepEqual(cfg.headCounts, [5, 10, 20, 20]);
    assert.equal(cfg.useLinearProjection, true);
  });
  it('refuses configs it cannot build', () => {
    const base = {
      block_out_channels: [32],
      down_block_types: ['DownBlock2D'],
      up_block_types: ['UpBlock2D'],
    };
    assert.throws(
      () => unetConfigFromJson({ ...base, addition_embed_type: 'text_time' }),
      /addition_embed_type/,
    );
    assert.throws(
      () => unetConfigFromJson({ ...base, down_block_types: ['SimpleCrossAttnDownBlock2D'] }),
      /not supported/,
    );
  });
});

it('timestep frequencies follow exp(-ln(10000) * i / half) in float32', () => {
  const f = timestepFrequencies(32, 0);
  assert.equal(f.length, 16);
  assert.equal(f[0], 1);
  assert.ok(Math.abs(f[8] - 10000 ** -0.5) < 1e-9);
  assert.ok(Math.abs(f[15] - Math.exp((-Math.log(10000) * 15) / 16)) < 1e-9);
});

describe('tensor shape tables of a config match the checkpoint', () => {
  for (const [name, dir] of [
    ['text-to-image model', () => MODEL_DIR()],
    ['inpainting UNet', () => fixturePath('sd-reference', 'model-inpaint')],
  ] as const) {
    it(`for every tensor of the ${name}`, () => {
      const ck = openCheckpoint(dir());
      try {
        const check = (
          expected: Map<string, number[]>,
          src: { names(): string[]; shape(n: string): number[] },
        ) => {
          const actual = new Map(
            src
              .names()
              .filter((n) => !n.endsWith('position_ids'))
              .map((n) => [n, src.shape(n)]),
          );
          assert.deepEqual(new Map([...actual].sort()), new Map([...expected].sort()));
        };
        check(unetTensorShapes(unetConfigFromJson(ck.unet!.configJson!)), ck.unet!.source);
        if (ck.vae) check(vaeTensorShapes(vaeConfigFromJson(ck.vae.configJson!)), ck.vae.source);
        if (ck.text_encoder)
          check(clipTensorShapes(clipConfigFromJson(ck.text_encoder.configJson!)), ck.text_encoder.source);
      } finally {
        ck.close();
      }
    });
  }

  it('SD 1.5 sizes: 859.5M UNet, 83.7M VAE, 123.1M text encoder parameters', () => {
    const count = (m: Map<string, number[]>) =>
      [...m.values()].reduce((a, s) => a + s.reduce((x, d) => x * d, 1), 0);
    assert.equal(count(unetTensorShapes(SD15_UNET)), 859520964);
    assert.equal(count(vaeTensorShapes(SD15_VAE)), 83653863);
    assert.equal(count(clipTensorShapes(SD15_CLIP)), 123060480);
  });
});
