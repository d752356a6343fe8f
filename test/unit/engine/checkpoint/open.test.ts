import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { float32ToHalfBits } from '../../../../src/engine/checkpoint/dtype.ts';
import { openCheckpoint } from '../../../../src/engine/checkpoint/open.ts';
import { SafetensorsFile, writeSafetensorsStreaming } from '../../../../src/engine/checkpoint/safetensors.ts';
import { loadParts } from '../../../../src/engine/load.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, tensor } from '../parity.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-open-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Copies the fixture VAE folder's weights into `dir`, split into shards and/or converted to F16. */
function rewriteVae(dir: string, opts: { shards: number; f16: boolean }): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(MODEL_DIR(), 'vae', 'config.json'), join(dir, 'config.json'));
  const src = SafetensorsFile.open(join(MODEL_DIR(), 'vae', 'diffusion_pytorch_model.safetensors'));
  try {
    const names = src.names().sort();
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < opts.shards; s++) {
      const mine = names.filter((_, i) => i % opts.shards === s);
      const file =
        opts.shards === 1
          ? 'diffusion_pytorch_model.safetensors'
          : `diffusion_pytorch_model-0000${s + 1}-of-0000${opts.shards}.safetensors`;
      for (const n of mine) weightMap[n] = file;
      writeSafetensorsStreaming(
        join(dir, file),
        mine.map((name) => ({ name, shape: src.info(name).shape, dtype: opts.f16 ? 'F16' : 'F32' })),
        (spec) => {
          const v = src.readFloat32(spec.name);
          return opts.f16 ? new Uint8Array(Uint16Array.from(v, (x) => float32ToHalfBits(x)).buffer) : v;
        },
      );
    }
    if (opts.shards > 1) {
      writeFileSync(
        join(dir, 'diffusion_pytorch_model.safetensors.index.json'),
        JSON.stringify({ metadata: {}, weight_map: weightMap }),
      );
    }
  } finally {
    src.close();
  }
}

interface VaeRef {
  decode: { latent: RefTensor; image: RefTensor };
}

describe('component folders', () => {
  it('reads a sharded checkpoint through its index.json, identical to the single file', () => {
    const dir = join(root, 'sharded-vae');
    rewriteVae(dir, { shards: 3, f16: false });
    const sharded = openCheckpoint(dir);
    const whole = openCheckpoint(MODEL_DIR());
    try {
      const a = sharded.vae!.source;
      const b = whole.vae!.source;
      assert.deepEqual(a.names().sort(), b.names().sort());
      for (const n of b.names()) assert.deepEqual(a.read(n), b.read(n), n);
    } finally {
      sharded.close();
      whole.close();
    }
  });

  it('runs an F16 checkpoint (converted to float32 at compile time) within half-precision error', async (t) => {
    const dir = join(root, 'f16-vae');
    rewriteVae(dir, { shards: 1, f16: true });
    const parts = await loadParts(dir, { cacheDir: join(root, 'cache') });
    try {
      const ref = refJson<VaeRef>('vae.json');
      const e = compare(await parts.vae!.decode(tensor(ref.decode.latent)), tensor(ref.decode.image));
      t.diagnostic(JSON.stringify(e));
      // weights rounded to 11 significant bits: far from float32 parity, but clearly the same network
      assert.ok(e.maxRel < 2e-2 && e.maxAbs > 1e-5, JSON.stringify(e));
    } finally {
      await parts.dispose();
    }
  });

  it('rejects a component folder of an unknown class and a folder without weights', () => {
    const dir = join(root, 'odd');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ _class_name: 'PriorTransformer' }));
    assert.throws(() => openCheckpoint(dir), /unsupported component class PriorTransformer/);
    const empty = join(root, 'empty', 'unet');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(root, 'empty', 'model_index.json'), '{}');
    assert.throws(() => openCheckpoint(join(root, 'empty')), /no .safetensors weights found/);
  });
});
