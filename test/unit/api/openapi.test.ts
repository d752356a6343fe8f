import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openApiDocument } from '../../../src/api/openapi.ts';

test('the OpenAPI document carries the zod ranges, enums and help texts', () => {
  const doc = openApiDocument('https://x.test');
  const p = doc.components.schemas.PromptCreate as { properties: Record<string, Record<string, unknown>> };
  assert.equal(p.properties.num_images.minimum, 1);
  assert.equal(p.properties.num_images.maximum, 8);
  assert.equal(p.properties.cfg_scale.maximum, 15);
  assert.ok((p.properties.scheduler.enum as string[]).includes('dpm++2m_karras'));
  assert.match(String(p.properties.text.description), /trigger word/);
  const t = doc.components.schemas.TuneCreate as { required: string[] };
  assert.deepEqual(t.required.sort(), ['name', 'title']);
  assert.ok(JSON.stringify(doc).length > 1000);
});
