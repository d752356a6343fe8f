import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadParts, type ModelParts } from '../../../../src/engine/load.ts';
import { compare, MODEL_DIR, type RefTensor, refJson, SINGLE_FILE, tensor } from '../parity.ts';

interface TextEncoderRef {
  cases: {
    prompt: string;
    input_ids: number[];
    last_hidden_state: RefTensor;
    penultimate_hidden_state_raw: RefTensor;
    penultimate_hidden_state_after_final_layer_norm: RefTensor;
  }[];
}

const TOLERANCE = 1e-5;
const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-clip-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

for (const [layout, path] of [
  ['diffusers folder', MODEL_DIR],
  ['single-file checkpoint', SINGLE_FILE],
] as const) {
  describe(`CLIP text encoder parity (${layout})`, () => {
    let parts: ModelParts;
    const load = async () => {
      parts ??= await loadParts(path(), { cacheDir, components: ['text_encoder'] });
      return parts.clip!;
    };
    after(() => parts?.dispose());

    it('has the fixture configuration', async () => {
      const clip = await load();
      assert.deepEqual(
        {
          h: clip.config.hiddenSize,
          l: clip.config.numLayers,
          heads: clip.config.numHeads,
          i: clip.config.intermediateSize,
        },
        { h: 32, l: 5, heads: 4, i: 37 },
      );
    });

    const ref = refJson<TextEncoderRef>('text_encoder.json');
    for (const c of ref.cases) {
      it(`matches last / penultimate hidden states for "${c.prompt}"`, async (t) => {
        const clip = await load();
        const ids = Int32Array.from(c.input_ids);
        const last = compare(await clip.encode(ids), tensor(c.last_hidden_state));
        const skip = compare(
          await clip.encode(ids, { clipSkip: 2 }),
          tensor(c.penultimate_hidden_state_after_final_layer_norm),
        );
        const raw = compare(await clip.encode(ids, { raw: true }), tensor(c.penultimate_hidden_state_raw));
        t.diagnostic(
          `last ${JSON.stringify(last)} clipSkip2 ${JSON.stringify(skip)} raw ${JSON.stringify(raw)}`,
        );
        for (const e of [last, skip, raw]) assert.ok(e.maxAbs <= TOLERANCE, `max abs error ${e.maxAbs}`);
      });
    }

    it('encodes a batch of rows like the rows one by one', async () => {
      const clip = await load();
      const rows = ref.cases.map((c) => Int32Array.from(c.input_ids));
      const batch = await clip.encode(rows);
      assert.deepEqual(batch.dims, [rows.length, 77, 32]);
      for (let i = 0; i < rows.length; i++) {
        const one = await clip.encode(rows[i]);
        const slice = batch.data.subarray(i * 77 * 32, (i + 1) * 77 * 32);
        assert.ok(
          compare({ data: slice, dims: one.dims.slice(1) }, { data: one.data, dims: one.dims.slice(1) })
            .maxAbs <= 1e-6,
        );
      }
    });

    it('rejects ids outside the vocabulary', async () => {
      const clip = await load();
      await assert.rejects(clip.encode(new Int32Array(77).fill(49408)), /outside the vocabulary/);
    });
  });
}
