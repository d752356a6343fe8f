// GET /conditioning and the OpenAPI `controlnet` description: both read the installation's models directory on
// each request, so a ControlNet copied into <dataDir>/models/controlnet/<type> shows up without a restart.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { presentConditioning } from '../../src/api/routes/conditioning/conditioning.ts';
import { CONTROLNETS } from '../../src/domain/vocab.ts';
import { conditioningAvailability, controlnetDir } from '../../src/engine/conditioning.ts';
import { modelsRoot } from '../../src/engine/models-dir.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { type Harness, harness, type Json } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

const list = async () => {
  const res = await h.req({ method: 'GET', url: '/conditioning' });
  assert.equal(res.statusCode, 200, res.body);
  return new Map<string, Json>(res.json().conditioning.map((s: Json) => [s.type, s]));
};
const controlnetHelp = async () =>
  (await h.req({ method: 'GET', url: '/openapi.json', key: null })).json().components.schemas.PromptCreate
    .properties.controlnet.description as string;

test('GET /conditioning needs an API key', async () => {
  assert.equal((await h.req({ method: 'GET', url: '/conditioning', key: null })).statusCode, 401);
});

test('every controlnet type is listed; with nothing installed each says what to install or why it cannot be', async () => {
  const s = await list();
  // every controlnet value, plus whatever else the registry reports (e.g. FaceID), in its order
  const registry = conditioningAvailability(modelsRoot(h.dir));
  assert.deepEqual(
    [...s.keys()],
    registry.map((r) => r.type),
  );
  for (const t of CONTROLNETS) assert.ok(s.has(t), t);
  for (const e of s.values()) {
    assert.equal(e.available, false, e.type);
    assert.ok(e.reason, `${e.type} has a reason`);
    assert.deepEqual(
      Object.keys(e).sort(),
      ['available', 'kind', 'preprocessor', 'reason', ...(e.install ? ['install'] : []), 'type'].sort(),
      'no server-side fields such as the checkpoint path',
    );
  }
  const dir = controlnetDir(modelsRoot(h.dir), 'canny');
  assert.equal(s.get('canny')?.kind, 'algorithm');
  assert.ok(s.get('canny')?.install.includes(dir), s.get('canny')?.install);
  assert.match(s.get('depth')?.install, /annotator\.onnx/);
  for (const r of registry) assert.deepEqual(s.get(r.type), presentConditioning(r));
  const help = await controlnetHelp();
  assert.match(help, /^ControlNet type/);
  assert.match(help, /Available on this server: none\./);
  assert.ok(help.includes(`canny: install ${s.get('canny')?.install}`), help);
});

test('a ControlNet installed while the server runs is listed as available at once, in the route and the document', async () => {
  const dir = controlnetDir(modelsRoot(h.dir), 'canny');
  mkdirSync(dir, { recursive: true });
  symlinkSync(
    fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors'),
    join(dir, 'control_v11p_sd15_canny.safetensors'),
  );
  const canny = (await list()).get('canny');
  assert.deepEqual(canny, {
    type: 'canny',
    kind: 'algorithm',
    available: true,
    preprocessor: 'Canny edges (TypeScript)',
  });
  const help = await controlnetHelp();
  assert.match(help, /Available on this server: canny\./);
  assert.ok(!help.includes('canny: install'), help);
});
