// How a prompt's adapter use is resolved (engine/adapter-request.ts): faceid tags vs LoRA tags, the refused
// combinations, and the stored identity format. No networks run here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { GenerationRequest } from '../../../src/domain/ports.ts';
import {
  adapterRequestOf,
  encodeFaceIdEmbeddings,
  faceIdTags,
  readFaceIdEmbeddings,
} from '../../../src/engine/adapter-request.ts';
import { conditioningAvailability } from '../../../src/engine/conditioning.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-adapter-req-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tune = { id: 7, branch: 'sd15', modelType: null, token: 'ohwx', name: 'man', weightsKey: null };
const base = {
  tune,
  loras: [],
  text: 'a photo',
  controlnet: null,
  controlnetConditioningScale: null,
  controlnetTxt2img: false,
  maskImage: null,
} as unknown as GenerationRequest;
const none = async () => null;

test('faceIdTags: <faceid:ID:w> tags (weights add up), the prompt own faceid tune at 1, LoRA tags ignored', () => {
  const r = { ...base, text: 'x <faceid:12:0.5> <lora:3:1> <faceid:12:0.25>' };
  assert.deepEqual([...faceIdTags(r)], [[12, 0.75]]);
  const own = { ...base, tune: { ...tune, modelType: 'faceid' } };
  assert.deepEqual([...faceIdTags(own)], [[7, 1]]);
  assert.equal(faceIdTags(base).size, 0);
});

test('no adapter, refused combinations, and the install text when FaceID or an image adapter is missing', async () => {
  const statuses = conditioningAvailability(dir);
  assert.equal(await adapterRequestOf(base, statuses, dir, none), undefined);
  const face = { ...base, text: 'x <faceid:12:1>' };
  await assert.rejects(
    adapterRequestOf({ ...face, controlnet: 'canny' }, statuses, dir, none),
    /one adapter/,
  );
  await assert.rejects(
    adapterRequestOf({ ...base, text: 'x <faceid:1> <faceid:2>' }, statuses, dir, none),
    /one faceid tune per prompt/,
  );
  await assert.rejects(
    adapterRequestOf({ ...face, maskImage: Buffer.from('m') }, statuses, dir, none),
    /mask cannot be combined with FaceID/,
  );
  await assert.rejects(adapterRequestOf(face, statuses, dir, none), /ip-adapter-faceid_sd15\.safetensors/);
  await assert.rejects(
    adapterRequestOf({ ...base, controlnet: 'reference' }, statuses, dir, none),
    /install ip-adapter-plus_sd15\.safetensors/,
  );
});

test('a faceid identity round-trips through its weights file; other files are refused', () => {
  const e = [Float32Array.of(0.6, 0.8), Float32Array.of(1, 0)];
  const path = join(dir, 'id.safetensors');
  writeFileSync(path, encodeFaceIdEmbeddings(e, 'arcface.onnx'));
  assert.deepEqual(readFaceIdEmbeddings(path), e);
  assert.throws(() => encodeFaceIdEmbeddings([], 'x'), /at least one/);
  const lora = join(dir, 'other.safetensors');
  writeFileSync(lora, encodeFaceIdEmbeddings(e, 'x').subarray(0, 8)); // truncated: not a safetensors file
  assert.throws(() => readFaceIdEmbeddings(lora));
});
