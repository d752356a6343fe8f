import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeSafetensors } from '../../../src/engine/checkpoint/safetensors.ts';
import { loadModel, loadParts } from '../../../src/engine/load.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import type { RefTensor } from './parity.ts';
import { compare, refJson, SINGLE_FILE, tensor } from './parity.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-load-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('loadModel', () => {
  it('loads all three components of a single-file checkpoint and reuses the compiled graphs', async () => {
    const cacheDir = join(root, 'cache');
    const m = await loadModel(SINGLE_FILE(), { cacheDir, session: { intraOpThreads: 1 } });
    const entries = readdirSync(cacheDir).sort();
    assert.equal(m.config.layout, 'single-file');
    assert.deepEqual(
      entries.map((e) => e.split('-').slice(0, -1).join('-')),
      ['clip', 'unet', 'vae-decoder', 'vae-encoder'],
    );
    const ref = refJson<{
      sample: RefTensor;
      encoder_hidden_states: RefTensor;
      cases: { timestep: number; output: RefTensor }[];
    }>('unet.json');
    const first = await m.unet.predict(tensor(ref.sample), 999, tensor(ref.encoder_hidden_states));
    await m.dispose();

    const again = await loadModel(SINGLE_FILE(), { cacheDir });
    assert.deepEqual(readdirSync(cacheDir).sort(), entries, 'no new cache entries');
    const second = await again.unet.predict(tensor(ref.sample), 999, tensor(ref.encoder_hidden_states));
    assert.equal(compare(second, first).maxAbs, 0);
    await again.dispose();
  });

  it('tells which components a partial checkpoint lacks', async () => {
    const dir = fixturePath('sd-reference', 'model-inpaint');
    await assert.rejects(loadModel(dir, { cacheDir: join(root, 'c2') }), /lacks clip, vae/);
    const parts = await loadParts(dir, { cacheDir: join(root, 'c2') });
    assert.equal(parts.unet?.config.inChannels, 9);
    await parts.dispose();
  });

  it('rejects SD 2.x and SDXL single files with a clear message', async () => {
    const w = { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    const sd2 = join(root, 'sd2.safetensors');
    writeSafetensors(sd2, [
      { name: 'model.diffusion_model.input_blocks.0.0.weight', ...w },
      { name: 'cond_stage_model.model.token_embedding.weight', ...w },
    ]);
    await assert.rejects(
      loadModel(sd2, { cacheDir: join(root, 'c3') }),
      /OpenCLIP text encoder.*Stable Diffusion 2\.x.*single file; SD 2\.x is served from a diffusers folder only/,
    );
    const xl = join(root, 'xl.safetensors');
    writeSafetensors(xl, [
      { name: 'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight', ...w },
    ]);
    await assert.rejects(loadModel(xl, { cacheDir: join(root, 'c3') }), /Stable Diffusion XL/);
    await assert.rejects(loadModel(join(root, 'model.ckpt'), { cacheDir: join(root, 'c3') }), /not found/);
  });

  it('applies config overrides (and they change the cache key)', async () => {
    const cacheDir = join(root, 'c4');
    const parts = await loadParts(SINGLE_FILE(), {
      cacheDir,
      components: ['vae'],
      overrides: { vae: { scalingFactor: 0.13025 } },
    });
    assert.equal(parts.vae?.config.scalingFactor, 0.13025);
    await parts.dispose();
  });
});
