import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadParts, type ModelParts } from '../../../../src/engine/load.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, SINGLE_FILE, tensor } from '../parity.ts';

interface VaeRef {
  decode: { latent: RefTensor; image: RefTensor };
  encode: { image: RefTensor; mean: RefTensor; logvar: RefTensor; std: RefTensor };
  scaling_factor: number;
}

// decode reaches ~1e-5 abs on outputs up to 2.5; the encoder (128x128 input through 4 levels of random
// weights) ~6e-5 abs on values up to 3: float32 summation-order noise, spread evenly over the latent.
const DECODE_TOLERANCE = 5e-5;
const ENCODE_TOLERANCE = 2e-4;
const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-vae-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));
const ref = refJson<VaeRef>('vae.json');

for (const [layout, path] of [
  ['diffusers folder', MODEL_DIR],
  ['single-file checkpoint', SINGLE_FILE],
] as const) {
  describe(`VAE parity (${layout})`, () => {
    let parts: ModelParts;
    const load = async () => {
      parts ??= await loadParts(path(), { cacheDir, components: ['vae'] });
      return parts.vae!;
    };
    after(() => parts?.dispose());

    it('has the scaling factor of the reference', async () => {
      assert.equal((await load()).config.scalingFactor, ref.scaling_factor);
    });

    it('decodes latents like the reference', async (t) => {
      const e = compare(await (await load()).decode(tensor(ref.decode.latent)), tensor(ref.decode.image));
      t.diagnostic(JSON.stringify(e));
      assert.ok(e.maxAbs <= DECODE_TOLERANCE, `max abs error ${e.maxAbs}`);
    });

    it('encodes an image to the reference latent distribution', async (t) => {
      const dist = await (await load()).encode(tensor(ref.encode.image));
      for (const k of ['mean', 'logvar', 'std'] as const) {
        const e = compare(dist[k], tensor(ref.encode[k]));
        t.diagnostic(`${k} ${JSON.stringify(e)}`);
        assert.ok(e.maxAbs <= ENCODE_TOLERANCE, `${k}: max abs error ${e.maxAbs}`);
      }
    });
  });
}
