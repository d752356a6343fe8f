// `atelier models list`: after the base models, every conditioning type, available or not, with the 422's
// install text for the others (read from <dataDir>/models/controlnet on each run).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runModelsCommand } from '../../../src/cli/models.ts';
import { loadConfig } from '../../../src/config.ts';
import { CONTROLNETS } from '../../../src/domain/vocab.ts';
import {
  conditioningAvailability,
  controlnetDir,
  unavailableMessage,
} from '../../../src/engine/conditioning.ts';
import { modelDir, modelsRoot, RESERVED_MODEL_NAMES } from '../../../src/engine/models-dir.ts';
import { fixturePath } from '../../helpers/fixtures.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'atelier-models-list-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function list(): Promise<string[]> {
  const lines: string[] = [];
  const rc = await runModelsCommand(['list'], loadConfig({ dataDir, logLevel: 'silent' }, {}), {
    out: (l) => lines.push(l),
  });
  assert.equal(rc, 0);
  return lines;
}

/** type → the columns of each row after the conditioning table's header */
const rows = (lines: string[]) => {
  const header = lines.findIndex((l) => l.startsWith('type\tkind\t'));
  return new Map(lines.slice(header + 1).map((l) => [l.split('\t')[0], l.split('\t')]));
};

test('with nothing installed: no base models, then all twelve types unavailable with what to install', async () => {
  const lines = await list();
  assert.match(lines[0], /no base models installed/);
  const header = lines.findIndex((l) => l.startsWith('conditioning'));
  assert.ok(header > 0, lines.join('\n'));
  assert.ok(lines[header].includes(join(modelsRoot(dataDir), 'controlnet')));
  assert.deepEqual(lines[header + 1].split('\t'), [
    'type',
    'kind',
    'available',
    'preprocessor',
    'missing / install',
  ]);
  const r = rows(lines);
  const statuses = conditioningAvailability(modelsRoot(dataDir));
  assert.deepEqual(
    [...r.keys()],
    statuses.map((s) => s.type),
  );
  for (const t of CONTROLNETS) assert.ok(r.has(t), t);
  for (const s of statuses) {
    const [, kind, available, preprocessor, text] = r.get(s.type) ?? [];
    assert.deepEqual([kind, available, preprocessor], [s.kind, 'no', s.preprocessor]);
    assert.equal(text, unavailableMessage(s), 'the same text as the prompt 422');
  }
  assert.match(r.get('canny')?.[4] ?? '', /install an SD 1\.5 ControlNet \(control_v11p_sd15_canny\)/);
});

test('an installed ControlNet is listed as available', async () => {
  const dir = controlnetDir(modelsRoot(dataDir), 'tile');
  mkdirSync(dir, { recursive: true });
  symlinkSync(
    fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors'),
    join(dir, 'control_v11f1e_sd15_tile.safetensors'),
  );
  const r = rows(await list());
  assert.deepEqual(r.get('tile')?.slice(1), ['algorithm', 'yes', 'down/up-scaled input (TypeScript)', '-']);
  assert.equal(r.get('canny')?.[2], 'no');
});

test('models add refuses the names of the folders that hold other networks', async () => {
  const lines: string[] = [];
  const rc = await runModelsCommand(
    ['add', fixturePath('sd-reference', 'model'), '--name', 'controlnet'],
    loadConfig({ dataDir, logLevel: 'silent' }, {}),
    { out: (l) => lines.push(l) },
  );
  assert.equal(rc, 1);
  assert.match(lines.join('\n'), /"controlnet" is reserved under the models directory/);
  for (const name of RESERVED_MODEL_NAMES) assert.throws(() => modelDir(dataDir, name), /reserved/);
});
