// The prompt form is generated from the API's own zod schema: every seed parameter must appear, in its group,
// with the seed's range, so the form and the server's validation cannot disagree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { promptSchema } from '../../src/domain/prompt-schema.ts';
import { tuneCreateSchema } from '../../src/domain/tune-schema.ts';
import { buildOpenApiDocument } from '../../src/openapi/document.ts';
import {
  buildFormModel,
  deref,
  type FieldSpec,
  fieldsOf,
  findBodySchema,
  type JsonSchema,
  rangeText,
} from '../../web/src/schema/form-model.ts';

// The same conversion web/build.ts performs.
const promptJson = z.toJSONSchema(promptSchema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
const tuneJson = z.toJSONSchema(tuneCreateSchema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;

function byName(groups: ReturnType<typeof buildFormModel>): Map<string, FieldSpec & { group: string }> {
  return new Map(groups.flatMap((g) => g.fields.map((f) => [f.name, { ...f, group: g.id }] as const)));
}

// Seed §3–4 (shared/seed/astria-prompts-api.md): every parameter and the group it is shown in.
const SEED_PARAMS: Record<string, string> = {
  text: 'basics',
  negative_prompt: 'basics',
  callback: 'basics',
  num_images: 'basics',
  seed: 'basics',
  w: 'basics',
  h: 'basics',
  style: 'basics',
  super_resolution: 'post',
  inpaint_faces: 'post',
  hires_fix: 'post',
  face_correct: 'post',
  face_swap: 'post',
  color_grading: 'post',
  film_grain: 'post',
  cfg_scale: 'sampling',
  steps: 'sampling',
  use_lpw: 'sampling',
  scheduler: 'sampling',
  backend_version: 'sampling',
  controlnet: 'img2img',
  denoising_strength: 'img2img',
  controlnet_conditioning_scale: 'img2img',
  controlnet_txt2img: 'img2img',
  input_image_url: 'img2img',
  mask_image_url: 'img2img',
  lora_scale: 'img2img',
};

test('every seed parameter is in the form, in its group, with help text from the schema', () => {
  const fields = byName(buildFormModel(promptJson));
  for (const [name, group] of Object.entries(SEED_PARAMS)) {
    const f = fields.get(name);
    assert.ok(f, `${name} missing from the form`);
    assert.equal(f.group, group, `${name} in group ${f.group}`);
    assert.ok(f.help.length > 0, `${name} has no help text`);
  }
});

test('ranges and choices come out as the seed states them', () => {
  const f = byName(buildFormModel(promptJson));
  const range = (n: string) => [f.get(n)?.min, f.get(n)?.max];
  assert.deepEqual(range('num_images'), [1, 8]);
  assert.deepEqual(range('cfg_scale'), [0, 15]);
  assert.deepEqual(range('steps'), [0, 50]);
  assert.deepEqual(range('seed'), [0, 2 ** 32 - 1]);
  assert.deepEqual(range('denoising_strength'), [0, 1]);
  assert.deepEqual(range('controlnet_conditioning_scale'), [0, 1]);
  assert.equal(f.get('num_images')?.kind, 'integer');
  assert.equal(f.get('cfg_scale')?.kind, 'number');
  assert.equal(f.get('super_resolution')?.kind, 'boolean');
  assert.equal(f.get('text')?.kind, 'longtext');
  assert.equal(f.get('text')?.required, true);
  assert.equal(f.get('callback')?.kind, 'url');
  assert.deepEqual(f.get('scheduler')?.options, [
    'euler',
    'euler_a',
    'dpm++2m_karras',
    'dpm++sde_karras',
    'dpm++2m',
    'dpm++sde',
    'lcm',
    'tcd',
  ]);
  assert.equal(f.get('style')?.options?.length, 10);
  assert.deepEqual(f.get('color_grading')?.options, ['Film Velvia', 'Film Portra', 'Ektar']);
  assert.equal(f.get('controlnet')?.options?.length, 12);
  // backend_version is a union of literals 0 | 1 | null: one choice, nullable
  assert.deepEqual(f.get('backend_version')?.options, [0, 1]);
  assert.equal(f.get('backend_version')?.nullable, true);
});

test('uploaded-file fields become file pickers, not schema inputs', () => {
  const fields = byName(buildFormModel(promptJson));
  for (const name of ['input_image', 'mask_image', 'input_image_base64'])
    assert.equal(fields.has(name), false);
});

test('a field the groups do not name still appears, under "More options"', () => {
  const doc: JsonSchema = {
    type: 'object',
    properties: { text: { type: 'string' }, brand_new: { type: 'integer', minimum: 2, maximum: 9 } },
    required: ['text'],
  };
  const groups = buildFormModel(doc);
  const more = groups.find((g) => g.id === 'more');
  assert.deepEqual(
    more?.fields.map((f) => f.name),
    ['brand_new'],
  );
});

test('an OpenAPI document is read through its POST body and $refs', () => {
  const openapi: JsonSchema = {
    openapi: '3.1.0',
    paths: {
      '/tunes/{tune_id}/prompts': {
        post: {
          requestBody: {
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PromptBody' } } },
          },
        },
      },
      '/tunes': {
        post: {
          requestBody: {
            content: { 'application/json': { schema: { $ref: '#/components/schemas/TuneBody' } } },
          },
        },
      },
    },
    components: {
      schemas: {
        PromptBody: { type: 'object', properties: { prompt: { $ref: '#/components/schemas/Prompt' } } },
        Prompt: promptJson,
        TuneBody: { type: 'object', properties: { tune: tuneJson } },
      },
    },
  };
  const fields = byName(buildFormModel(openapi));
  assert.deepEqual([fields.get('steps')?.min, fields.get('steps')?.max], [0, 50]);
  assert.deepEqual(fieldsOf(openapi, 'tune').get('branch')?.options, ['sd15', 'sdxl1', 'flux1', 'fast']);
  assert.throws(() => findBodySchema({ openapi: '3.1.0', paths: {} } as JsonSchema), /no JSON request body/);
});

test("the server's /openapi.json document gives the same form as the built schema", () => {
  const openapi = buildOpenApiDocument({ serverUrl: 'http://127.0.0.1', includeOperation: () => true });
  const strip = (groups: ReturnType<typeof buildFormModel>) =>
    groups.map((g) => ({ id: g.id, fields: g.fields.map(({ label: _l, ...f }) => f) }));
  assert.deepEqual(strip(buildFormModel(openapi as JsonSchema)), strip(buildFormModel(promptJson)));
  const tuneFields = (doc: JsonSchema) => {
    const m = fieldsOf(doc, 'tune');
    return ['branch', 'model_type', 'title', 'name', 'token'].map((n) => m.get(n));
  };
  assert.deepEqual(tuneFields(openapi as JsonSchema), tuneFields(tuneJson));
});

test('tune schema gives the branch and model type pickers', () => {
  const t = fieldsOf(tuneJson, 'tune');
  assert.deepEqual(t.get('model_type')?.options, ['lora', 'faceid', 'pti', 'checkpoint']);
  assert.ok(t.get('title')?.help);
});

test('deref follows chains and refuses cycles and remote refs', () => {
  const root: JsonSchema = {
    $defs: { A: { $ref: '#/$defs/B' }, B: { type: 'integer' }, C: { $ref: '#/$defs/C' } },
  };
  assert.equal(deref({ $ref: '#/$defs/A' }, root).type, 'integer');
  assert.throws(() => deref({ $ref: '#/$defs/C' }, root), /circular/);
  assert.throws(() => deref({ $ref: 'https://example.com/s.json' }, root), /only local/);
});

test('rangeText says range, multiple and default in one line', () => {
  const f = (o: Partial<FieldSpec>): FieldSpec => ({
    name: 'x',
    kind: 'integer',
    label: 'X',
    help: '',
    required: false,
    nullable: false,
    ...o,
  });
  assert.equal(rangeText(f({ min: 1, max: 8, step: 1 })), '1–8');
  assert.equal(rangeText(f({ min: 64, max: 2048, step: 8 })), '64–2048 · multiple of 8');
  assert.equal(rangeText(f({ kind: 'number', min: 0, max: 1, default: 0.8 })), '0–1 · default 0.8');
  assert.equal(rangeText(f({ min: 0 })), '≥ 0');
});
