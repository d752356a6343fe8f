import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadParts, type ModelParts } from '../../../../src/engine/load.ts';
import type { UnetBuildOptions } from '../../../../src/engine/models/unet.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, SINGLE_FILE, tensor } from '../parity.ts';

interface UnetRef {
  sample: RefTensor;
  encoder_hidden_states: RefTensor;
  cases: { timestep: number; output: RefTensor }[];
  per_sample_timesteps_case: { timesteps: number[]; output: RefTensor };
  inpaint_unet: { sample: RefTensor; cases: { timestep: number; output: RefTensor }[] };
}

const TOLERANCE = 2e-5;
const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-unet-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));
const ref = refJson<UnetRef>('unet.json');

function suite(
  name: string,
  path: () => string,
  sample: RefTensor,
  cases: { timestep: number | number[]; output: RefTensor }[],
  build: UnetBuildOptions = {},
) {
  describe(`UNet parity (${name})`, () => {
    let parts: ModelParts;
    const load = async () => {
      parts ??= await loadParts(path(), { cacheDir, components: ['unet'], unet: build });
      return parts.unet!;
    };
    after(() => parts?.dispose());
    for (const c of cases) {
      it(`matches the reference at timestep ${JSON.stringify(c.timestep)}`, async (t) => {
        const unet = await load();
        const out = await unet.predict(tensor(sample), c.timestep, tensor(ref.encoder_hidden_states));
        const e = compare(out, tensor(c.output));
        t.diagnostic(JSON.stringify(e));
        assert.ok(e.maxAbs <= TOLERANCE, `max abs error ${e.maxAbs}`);
      });
    }
  });
}

const sd15Cases = [
  ...ref.cases,
  { timestep: ref.per_sample_timesteps_case.timesteps, output: ref.per_sample_timesteps_case.output },
];
suite('diffusers folder', MODEL_DIR, ref.sample, sd15Cases);
suite('single-file checkpoint', SINGLE_FILE, ref.sample, sd15Cases);
suite(
  'diffusers folder, MatMul/Softmax attention instead of the fused kernel',
  MODEL_DIR,
  ref.sample,
  sd15Cases,
  {
    fusedAttention: false,
  },
);
suite(
  '9-channel inpainting UNet',
  () => fixturePath('sd-reference', 'model-inpaint', 'unet'),
  ref.inpaint_unet.sample,
  ref.inpaint_unet.cases,
);

describe('UNet input checks', () => {
  it('reports a wrong channel count with the fed dims', async () => {
    const parts = await loadParts(MODEL_DIR(), { cacheDir, components: ['unet'] });
    try {
      const bad = { data: new Float32Array(2 * 3 * 16 * 16), dims: [2, 3, 16, 16] };
      await assert.rejects(
        parts.unet!.predict(bad, 10, tensor(ref.encoder_hidden_states)),
        /sample dim 1 must be 4.*\[2,3,16,16\]/,
      );
      await assert.rejects(
        parts.unet!.predict(tensor(ref.sample), [1, 2, 3], tensor(ref.encoder_hidden_states)),
        /3 timesteps for a batch of 2/,
      );
    } finally {
      await parts.dispose();
    }
  });
});
