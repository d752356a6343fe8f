import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilityGaps, resolveGeneration, resolveSize } from '../../../src/domain/generation.ts';
import { applyStyle, STYLE_PRESETS } from '../../../src/domain/styles.ts';
import { STYLES } from '../../../src/domain/vocab.ts';

test('size: w/h win, aspect_ratio keeps the native area in multiples of 8, native square otherwise', () => {
  assert.deepEqual(resolveSize({ w: 640, h: 320 }, 'sd15'), { width: 640, height: 320 });
  assert.deepEqual(resolveSize({}, 'sd15'), { width: 512, height: 512 });
  assert.deepEqual(resolveSize({}, 'sdxl1'), { width: 1024, height: 1024 });
  const r = resolveSize({ aspect_ratio: '16:9' }, 'sdxl1');
  assert.equal(r.width % 8, 0);
  assert.equal(r.height % 8, 0);
  assert.ok(Math.abs((r.width * r.height) / (1024 * 1024) - 1) < 0.03);
  assert.ok(Math.abs(r.width / r.height - 16 / 9) < 0.03);
  assert.deepEqual(resolveSize({ w: 768 }, 'sd15'), { width: 768, height: 512 });
});

test('capability gaps list only non-default values the implementation lacks', () => {
  const caps = {
    branches: ['sd15'],
    schedulers: ['euler'],
    controlnets: ['canny'],
    features: ['cfg_scale'],
    mock: false,
  };
  assert.deepEqual(
    capabilityGaps(caps, { cfg_scale: 7, super_resolution: false, denoising_strength: 0.8 }),
    {},
  );
  const gaps = capabilityGaps(caps, {
    super_resolution: true,
    scheduler: 'lcm',
    controlnet: 'depth',
    mask_image_url: 'x',
  });
  assert.deepEqual(Object.keys(gaps).sort(), ['controlnet', 'mask_image', 'scheduler', 'super_resolution']);
});

test('resolution applies characteristics, style and defaults', () => {
  const req = resolveGeneration(
    { text: 'ohwx man, {{hair}} hair <lora:3:0.7>', style: 'Photographic', negative_prompt: 'blur' },
    { id: 1, branch: 'sd15', modelType: 'lora', token: 'ohwx', name: 'man', weightsKey: null },
    { hair: 'red' },
    99,
    { input: null, mask: null },
  );
  assert.match(req.text, /^photograph of ohwx man, red hair <lora:3:0.7>/);
  assert.match(req.negativePrompt, /^blur, drawing/);
  assert.deepEqual(req.loras, [{ tuneId: 3, weight: 0.7 }]);
  assert.equal(req.steps, 0, 'blank steps reach the generator as 0 = the base model default');
  assert.equal(req.scheduler, null, 'blank scheduler = the base model default');
  assert.equal(req.cfgScale, null, 'blank cfg_scale = the base model default (7.5 unless its manifest says)');
  assert.equal(req.numImages, 4);
  assert.equal(req.seed, 99);
  assert.equal(req.denoisingStrength, 0.8);
});

test('every style has a preset that contains {prompt}', () => {
  for (const s of STYLES) assert.ok(STYLE_PRESETS[s].template.includes('{prompt}'), s);
  assert.deepEqual(applyStyle(undefined, 'x', undefined), { text: 'x', negative: undefined });
});
