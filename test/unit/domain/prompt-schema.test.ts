// The prompt schema's JSON Schema carries the rules the server applies: w/h as multipleOf 8 (same messages as
// before), and the model-independent defaults as `default` only — parsing still leaves a blank field undefined,
// so a created prompt shows it as null (API.md §3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import {
  DEFAULT_CFG_SCALE,
  DEFAULT_DENOISING_STRENGTH,
  DEFAULT_NUM_IMAGES,
} from '../../../src/domain/generation.ts';
import { DOCUMENTED_DEFAULTS, promptSchema } from '../../../src/domain/prompt-schema.ts';

const json = z.toJSONSchema(promptSchema, { io: 'output', unrepresentable: 'any' }) as {
  properties: Record<string, { multipleOf?: number; default?: unknown; minimum?: number; maximum?: number }>;
};
const messages = (w: unknown) =>
  promptSchema.safeParse({ text: 'x', w }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

test('w and h are multipleOf 8 in the JSON Schema, with their range', () => {
  for (const k of ['w', 'h']) {
    assert.equal(json.properties[k].multipleOf, 8, k);
    assert.deepEqual([json.properties[k].minimum, json.properties[k].maximum], [64, 2048]);
  }
});

test('w validation answers as before: the multiple-of-8 message, range messages, strings coerced', () => {
  assert.deepEqual(messages(100), ['w: must be a multiple of 8']);
  assert.deepEqual(messages(30), ['w: Too small: expected number to be >=64', 'w: must be a multiple of 8']);
  assert.deepEqual(messages(4000), ['w: Too big: expected number to be <=2048']);
  assert.deepEqual(messages(100.5), ['w: Invalid input: expected int, received number']);
  assert.equal(messages('104'), undefined);
  assert.equal(promptSchema.parse({ text: 'x', w: '104' }).w, 104);
});

test('defaults are documented in the JSON Schema, equal to what generation resolves, and never filled in', () => {
  assert.equal(json.properties.num_images.default, DEFAULT_NUM_IMAGES);
  assert.equal(json.properties.cfg_scale.default, DEFAULT_CFG_SCALE);
  assert.equal(json.properties.denoising_strength.default, DEFAULT_DENOISING_STRENGTH);
  assert.deepEqual(DOCUMENTED_DEFAULTS, {
    num_images: DEFAULT_NUM_IMAGES,
    cfg_scale: DEFAULT_CFG_SCALE,
    denoising_strength: DEFAULT_DENOISING_STRENGTH,
  });
  // Model-dependent values have no fixed default.
  assert.equal(json.properties.steps.default, undefined);
  assert.equal(json.properties.scheduler.default, undefined);
  const parsed = promptSchema.parse({ text: 'x', num_images: '', cfg_scale: null });
  assert.equal(parsed.num_images, undefined);
  assert.equal(parsed.cfg_scale, undefined);
  assert.equal(parsed.denoising_strength, undefined);
});
