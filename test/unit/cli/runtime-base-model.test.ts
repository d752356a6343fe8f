// The LoRA trainer's base_tune_id resolver: an installed sd15 model registered under that tune id is used; another
// family's model or an unknown id leaves the trainer on its default base model (undefined).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sd15BaseModelResolver } from '../../../src/cli/runtime.ts';
import * as modelsDir from '../../../src/engine/models-dir.ts';

const manifest = (name: string, branch: string, tuneId: number | null) =>
  ({
    name,
    branch,
    source: { kind: 'add', from: '/nowhere' },
    checkpoint: 'model.safetensors',
    files: [],
    tuneId,
  }) as unknown as modelsDir.ModelManifest;

test('sd15BaseModelResolver: the sd15 model of that tune id, nothing for another family or an unknown id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-base-model-'));
  try {
    modelsDir.writeManifest(dir, manifest('default', 'sd15', null));
    modelsDir.writeManifest(dir, manifest('realistic', 'sd15', 690204));
    modelsDir.writeManifest(dir, manifest('xl', 'sdxl1', 1504944));
    const resolve = sd15BaseModelResolver(dir, modelsDir);
    const spec = resolve(690204);
    assert.equal(spec?.key, 'models/realistic');
    assert.equal(spec?.path, join(modelsDir.modelDir(dir, 'realistic'), 'model.safetensors'));
    assert.equal(resolve(1504944), undefined, 'an sdxl1 model cannot be a LoRA base for the sd15 trainer');
    assert.equal(resolve(1), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
