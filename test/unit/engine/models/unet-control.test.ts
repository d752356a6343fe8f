import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadParts } from '../../../../src/engine/load.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, tensor } from '../parity.ts';

interface ControlRef {
  direct: {
    sample: RefTensor;
    timestep: number;
    encoder_hidden_states: RefTensor;
    down_block_res_samples: RefTensor[];
    mid_block_res_sample: RefTensor;
    unet_output_with_control: RefTensor;
    unet_output_without_control: RefTensor;
  };
}

const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-unetc-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('UNet with ControlNet residual inputs', () => {
  it('adds the recorded residuals to the skips and mid block like diffusers', async (t) => {
    const d = refJson<ControlRef>('controlnet.json').direct;
    const parts = await loadParts(MODEL_DIR(), {
      cacheDir,
      components: ['unet'],
      unet: { controlResiduals: true },
    });
    try {
      const unet = parts.unet!;
      assert.equal(unet.skipCount, d.down_block_res_samples.length);
      const control = { down: d.down_block_res_samples.map(tensor), mid: tensor(d.mid_block_res_sample) };
      const out = await unet.predict(tensor(d.sample), d.timestep, tensor(d.encoder_hidden_states), control);
      const e = compare(out, tensor(d.unet_output_with_control));
      t.diagnostic(JSON.stringify(e));
      assert.ok(e.maxAbs <= 2e-5, `max abs error ${e.maxAbs}`);
      // the residuals matter: the output without them is far from the controlled one
      assert.ok(
        compare(tensor(d.unet_output_without_control), tensor(d.unet_output_with_control)).maxAbs > 1e-2,
      );
      await assert.rejects(
        unet.predict(tensor(d.sample), d.timestep, tensor(d.encoder_hidden_states)),
        /ControlNet residuals/,
      );
    } finally {
      await parts.dispose();
    }
  });
});
