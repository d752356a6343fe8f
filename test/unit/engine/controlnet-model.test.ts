// ControlNet network parity with refs/controlnet.json "direct": the control-image embedding, the 12 + 1
// scaled residuals and the UNet output with them, from both checkpoint layouts; config detection; the
// original-layout name map with and without the `control_model.` prefix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/checkpoint/safetensors.ts';
import { loadParts } from '../../../src/engine/load.ts';
import {
  type ControlNet,
  controlNetConfigFromJson,
  controlNetFlops,
  controlNetResidualCount,
  controlNetTensorShapes,
  convertControlNetName,
  detectControlNetConfig,
  loadControlNet,
  openControlNet,
  SD15_CONTROLNET,
} from '../../../src/engine/models/controlnet.ts';
import { SD15_UNET, unetFlops } from '../../../src/engine/models/unet.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, tensor } from './parity.ts';

interface DirectRef {
  sample: RefTensor;
  timestep: number;
  encoder_hidden_states: RefTensor;
  control_image_nchw_0_1: RefTensor;
  conditioning_scale: number;
  cond_embedding_output: RefTensor;
  down_block_res_samples: RefTensor[];
  mid_block_res_sample: RefTensor;
  unet_output_with_control: RefTensor;
}

const DIFFUSERS = () => fixturePath('sd-reference', 'model-controlnet');
const ORIGINAL = () => fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors');
const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-cn-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

function batch2(img: RefTensor) {
  const t = tensor(img);
  const data = new Float32Array(t.data.length * 2);
  data.set(t.data);
  data.set(t.data, t.data.length);
  return { data, dims: [2, ...t.dims.slice(1)] };
}

describe('ControlNet config', () => {
  it('detection from shapes reproduces config.json, for both layouts', () => {
    const dir = openControlNet(DIFFUSERS());
    const orig = openControlNet(ORIGINAL());
    try {
      const fromJson = dir.config;
      assert.deepEqual(detectControlNetConfig(dir.source), fromJson);
      assert.deepEqual(orig.config, fromJson);
      assert.equal(orig.layout, 'original');
      assert.equal(controlNetResidualCount(fromJson), 12);
      // every tensor of the diffusers file is reachable under the same name from the original file
      assert.deepEqual(orig.source.names().sort(), dir.source.names().sort());
      for (const n of dir.source.names()) assert.deepEqual(orig.source.shape(n), dir.source.shape(n), n);
      // and the shape table matches the real layout exactly
      const shapes = controlNetTensorShapes(fromJson);
      assert.deepEqual([...shapes.keys()].sort(), dir.source.names().sort());
      for (const [n, s] of shapes) assert.deepEqual(dir.source.shape(n), s, n);
    } finally {
      dir.close();
      orig.close();
    }
  });

  it('maps original names with or without the control_model. prefix', () => {
    const cases: [string, string | null][] = [
      ['control_model.input_hint_block.0.weight', 'controlnet_cond_embedding.conv_in.weight'],
      ['input_hint_block.2.bias', 'controlnet_cond_embedding.blocks.0.bias'],
      ['control_model.input_hint_block.12.weight', 'controlnet_cond_embedding.blocks.5.weight'],
      ['input_hint_block.14.weight', 'controlnet_cond_embedding.conv_out.weight'],
      ['control_model.zero_convs.11.0.weight', 'controlnet_down_blocks.11.weight'],
      ['middle_block_out.0.bias', 'controlnet_mid_block.bias'],
      ['control_model.input_blocks.0.0.weight', 'conv_in.weight'],
      ['control_model.input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight'],
      ['input_blocks.4.0.in_layers.2.weight', 'down_blocks.1.resnets.0.conv1.weight'],
      ['control_model.middle_block.1.proj_in.weight', 'mid_block.attentions.0.proj_in.weight'],
      ['control_model.time_embed.2.bias', 'time_embedding.linear_2.bias'],
      ['model.diffusion_model.input_blocks.0.0.weight', null],
    ];
    for (const [from, to] of cases) assert.equal(convertControlNetName(from, 8), to, from);
  });

  it('SD 1.5 sizes: 361 M parameters, about a third of the UNet FLOPs per evaluation', () => {
    let params = 0;
    for (const shape of controlNetTensorShapes(SD15_CONTROLNET).values())
      params += shape.reduce((a, d) => a * d, 1);
    assert.equal(Math.round(params / 1e6), 361);
    const ratio = controlNetFlops(SD15_CONTROLNET, 2, 64, 64) / unetFlops(SD15_UNET, 2, 64, 64);
    assert.ok(ratio > 0.3 && ratio < 0.4, `ratio ${ratio}`);
    assert.equal(
      controlNetFlops(SD15_CONTROLNET, 4, 64, 64),
      2 * controlNetFlops(SD15_CONTROLNET, 2, 64, 64),
    );
  });

  it('reads a config.json through controlNetConfigFromJson and refuses other classes', () => {
    assert.throws(
      () => controlNetConfigFromJson({ _class_name: 'UNet2DConditionModel' }),
      /not a ControlNet/,
    );
  });
});

describe('ControlNet network vs diffusers (refs/controlnet.json direct)', () => {
  let d: DirectRef;
  before(() => {
    d = refJson<{ direct: DirectRef }>('controlnet.json').direct;
  });

  async function check(path: string, t: { diagnostic(s: string): void }, cn?: ControlNet) {
    const net =
      cn ??
      (await loadControlNet(path, {
        cacheDir,
        session: { intraOpThreads: 1 },
        build: { exposeCondEmbedding: true },
      }));
    try {
      const out = await net.residuals(
        tensor(d.sample),
        d.timestep,
        tensor(d.encoder_hidden_states),
        batch2(d.control_image_nchw_0_1),
        d.conditioning_scale,
      );
      const emb = compare(out.condEmbedding!, tensor(d.cond_embedding_output));
      let worst = 0;
      out.down.forEach((r, k) => {
        worst = Math.max(worst, compare(r, tensor(d.down_block_res_samples[k])).maxAbs);
      });
      const mid = compare(out.mid, tensor(d.mid_block_res_sample));
      t.diagnostic(`${path}: embedding ${emb.maxAbs}, down ${worst}, mid ${mid.maxAbs}`);
      assert.ok(emb.maxAbs <= 2e-5, `cond embedding ${emb.maxAbs}`);
      assert.ok(worst <= 2e-5, `down residuals ${worst}`);
      assert.ok(mid.maxAbs <= 2e-5, `mid residual ${mid.maxAbs}`);
      return out;
    } finally {
      await net.dispose();
    }
  }

  it('diffusers folder: embedding and residuals; the UNet with them matches unet_output_with_control', async (t) => {
    const res = await check(DIFFUSERS(), t);
    const parts = await loadParts(MODEL_DIR(), {
      cacheDir,
      components: ['unet'],
      unet: { controlResiduals: true },
      session: { intraOpThreads: 1 },
    });
    try {
      const out = await parts.unet!.predict(
        tensor(d.sample),
        d.timestep,
        tensor(d.encoder_hidden_states),
        res,
      );
      const e = compare(out, tensor(d.unet_output_with_control));
      t.diagnostic(`unet with our residuals: ${JSON.stringify(e)}`);
      assert.ok(e.maxAbs <= 3e-5, `unet output ${e.maxAbs}`);
    } finally {
      await parts.dispose();
    }
  });

  it('original cldm single file (control_model.* keys): same numbers', async (t) => {
    await check(ORIGINAL(), t);
  });

  it('original layout without the control_model. prefix: same numbers', async (t) => {
    const src = SafetensorsFile.open(ORIGINAL());
    const bare = join(cacheDir, 'bare-controlnet.safetensors');
    try {
      writeSafetensors(
        bare,
        src.names().map((k) => ({
          name: k.replace(/^control_model\./, ''),
          dtype: 'F32' as const,
          shape: src.info(k).shape,
          data: src.readFloat32(k),
        })),
      );
    } finally {
      src.close();
    }
    await check(bare, t);
  });

  it('the conditioning scale multiplies every residual (scale 0 gives zeros)', async () => {
    const net = await loadControlNet(DIFFUSERS(), { cacheDir, session: { intraOpThreads: 1 } });
    try {
      const out = await net.residuals(
        tensor(d.sample),
        d.timestep,
        tensor(d.encoder_hidden_states),
        batch2(d.control_image_nchw_0_1),
        0,
      );
      for (const r of [...out.down, out.mid]) assert.ok(r.data.every((v) => v === 0));
    } finally {
      await net.dispose();
    }
  });

  it('bgr channel order flips the control image; global pooling averages each residual', async () => {
    const rgbImage = batch2(d.control_image_nchw_0_1);
    const [b, c, h, w] = rgbImage.dims;
    const bgrImage = new Float32Array(rgbImage.data.length);
    const plane = h * w;
    for (let n = 0; n < b; n++)
      for (let ch = 0; ch < c; ch++)
        bgrImage.set(
          rgbImage.data.subarray((n * c + ch) * plane, (n * c + ch + 1) * plane),
          (n * c + (c - 1 - ch)) * plane,
        );
    const session = { intraOpThreads: 1 };
    const rgb = await loadControlNet(DIFFUSERS(), { cacheDir, session });
    const bgr = await loadControlNet(DIFFUSERS(), { cacheDir, session, overrides: { channelOrder: 'bgr' } });
    const pooled = await loadControlNet(DIFFUSERS(), {
      cacheDir,
      session,
      overrides: { globalPoolConditions: true },
    });
    try {
      const args = [tensor(d.sample), d.timestep, tensor(d.encoder_hidden_states)] as const;
      const a = await rgb.residuals(...args, rgbImage, 0.8);
      const z = await bgr.residuals(...args, { data: bgrImage, dims: rgbImage.dims }, 0.8);
      assert.ok(compare(z.mid, a.mid).maxAbs === 0 && compare(z.down[3], a.down[3]).maxAbs === 0);
      const p = await pooled.residuals(...args, rgbImage, 0.8);
      const r = a.down[1];
      assert.deepEqual(p.down[1].dims, [r.dims[0], r.dims[1], 1, 1]);
      const hw = r.dims[2] * r.dims[3];
      let mean = 0;
      for (let k = 0; k < hw; k++) mean += r.data[k];
      assert.ok(Math.abs(p.down[1].data[0] - mean / hw) < 1e-5);
    } finally {
      await Promise.all([rgb.dispose(), bgr.dispose(), pooled.dispose()]);
    }
  });
});
