// Availability of the 12 controlnet types over a temporary models dir, and the 422s the API gives for the
// unavailable ones (capability level: the domain's capabilityGaps fed with capabilities built from the
// registry, which is what SdGenerator.capabilities() will return once wired).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { capabilityGaps } from '../../../src/domain/generation.ts';
import type { GeneratorCapabilities } from '../../../src/domain/ports.ts';
import { CONTROLNETS } from '../../../src/domain/vocab.ts';
import {
  availableControlnets,
  type ConditioningStatus,
  conditioningAvailability,
  controlnetDir,
  faceIdAvailability,
  findControlNetCheckpoint,
  imageEncoderDir,
  ipAdapterDir,
  unavailableMessage,
} from '../../../src/engine/conditioning.ts';
import { fixturePath } from '../../helpers/fixtures.ts';

let modelsDir: string;
const SINGLE = () => fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors');
const FOLDER = () => fixturePath('sd-reference', 'model-controlnet');

before(() => {
  modelsDir = mkdtempSync(join(tmpdir(), 'atelier-cond-'));
  const dir = (t: Parameters<typeof controlnetDir>[1]) => {
    const d = controlnetDir(modelsDir, t);
    mkdirSync(d, { recursive: true });
    return d;
  };
  symlinkSync(SINGLE(), join(dir('canny'), 'control_v11p_sd15_canny.safetensors'));
  const tile = dir('tile'); // diffusers folder layout
  copyFileSync(join(FOLDER(), 'config.json'), join(tile, 'config.json'));
  symlinkSync(
    join(FOLDER(), 'diffusion_pytorch_model.safetensors'),
    join(tile, 'diffusion_pytorch_model.safetensors'),
  );
  symlinkSync(SINGLE(), join(dir('depth'), 'depth.safetensors')); // no annotator
  writeFileSync(join(dir('pose'), 'broken.safetensors'), 'not a safetensors file');
  symlinkSync(SINGLE(), join(dir('lineart'), 'lineart.safetensors'));
  writeFileSync(join(dir('lineart'), 'annotator.onnx'), 'x'); // ControlNet + annotator present
});
after(() => rmSync(modelsDir, { recursive: true, force: true }));

const byType = () => new Map(conditioningAvailability(modelsDir).map((s) => [s.type, s]));

describe('conditioningAvailability', () => {
  it('lists every Astria type once, in the API order', () => {
    assert.deepEqual(
      conditioningAvailability(modelsDir).map((s) => s.type),
      [...CONTROLNETS],
    );
  });

  it('installed ControlNets (single file and diffusers folder) make algorithm types available', () => {
    const s = byType();
    assert.equal(s.get('canny')?.available, true);
    assert.match(s.get('canny')?.controlnetPath ?? '', /control_v11p_sd15_canny\.safetensors$/);
    assert.equal(s.get('tile')?.available, true);
    assert.equal(s.get('tile')?.controlnetPath, controlnetDir(modelsDir, 'tile'));
    assert.equal(s.get('lineart')?.available, true);
    assert.equal(s.get('lineart')?.annotatorDir, controlnetDir(modelsDir, 'lineart'));
    assert.deepEqual(availableControlnets(modelsDir), ['lineart', 'canny', 'tile']);
  });

  it('says exactly what to install for each missing piece', () => {
    const s = byType();
    const qr = s.get('qr') as ConditioningStatus;
    assert.equal(qr.available, false);
    assert.match(qr.reason ?? '', /"qr" ControlNet is not installed/);
    assert.ok(qr.install?.includes(`${controlnetDir(modelsDir, 'qr')}/`));
    assert.doesNotMatch(qr.install ?? '', /annotator/);
    const depth = s.get('depth') as ConditioningStatus;
    assert.match(depth.reason ?? '', /"depth" annotator is not installed/);
    assert.ok(depth.install?.includes(join(controlnetDir(modelsDir, 'depth'), 'annotator.onnx')));
    assert.doesNotMatch(depth.install ?? '', /ControlNet \(/);
    const hed = s.get('hed') as ConditioningStatus;
    assert.match(hed.reason ?? '', /ControlNet and annotator are not installed/);
    assert.match(hed.install ?? '', /control_v11p_sd15_softedge.*and .*HED/);
    const pose = s.get('pose') as ConditioningStatus;
    assert.match(pose.reason ?? '', /cannot be loaded/);
    const files = {
      ipadapter: 'ip-adapter_sd15.safetensors',
      reference: 'ip-adapter-plus_sd15.safetensors',
      composition: 'ip_plus_composition_sd15.safetensors',
    };
    for (const t of ['ipadapter', 'reference', 'composition'] as const) {
      const ip = s.get(t) as ConditioningStatus;
      assert.equal(ip.available, false);
      assert.equal(ip.kind, 'ip-adapter');
      assert.match(ip.reason ?? '', /adapter .* is not installed; the image encoder is not installed/);
      assert.ok(ip.install?.includes(join(ipAdapterDir(modelsDir), files[t])), ip.install);
      assert.ok(ip.install?.includes(`${imageEncoderDir(modelsDir)}/`), ip.install);
    }
    const faceid = faceIdAvailability(modelsDir);
    assert.equal(faceid.available, false);
    assert.ok(faceid.install?.includes(join(ipAdapterDir(modelsDir), 'ip-adapter-faceid_sd15.safetensors')));
    assert.ok(faceid.install?.includes(join(modelsDir, 'faces', 'arcface.onnx')), faceid.install);
  });

  it('refuses an ambiguous folder with several checkpoints', () => {
    const d = join(modelsDir, 'ambiguous');
    mkdirSync(d);
    writeFileSync(join(d, 'a.safetensors'), '');
    writeFileSync(join(d, 'b.safetensors'), '');
    assert.throws(() => findControlNetCheckpoint(d), /keep exactly one/);
    assert.equal(findControlNetCheckpoint(join(modelsDir, 'nothing-here')), undefined);
    const pth = join(modelsDir, 'pickled');
    mkdirSync(pth);
    writeFileSync(join(pth, 'control_sd15_canny.pth'), '');
    assert.throws(() => findControlNetCheckpoint(pth), /pickled .* convert it to \.safetensors/);
  });

  const INSTALLED = new Set(['canny', 'tile', 'lineart']);
  for (const type of CONTROLNETS) {
    const verdict = INSTALLED.has(type) ? 'accepted' : 'rejected (422 with the reason)';
    it(`controlnet=${type} through the capability check: ${verdict}`, () => {
      const caps: GeneratorCapabilities = {
        branches: ['sd15'],
        schedulers: ['euler'],
        controlnets: availableControlnets(modelsDir),
        features: [
          'input_image',
          'controlnet_conditioning_scale',
          'controlnet_txt2img',
          'denoising_strength',
        ],
        mock: false,
      };
      const gaps = capabilityGaps(caps, { controlnet: type, input_image: 'x' });
      const status = byType().get(type) as ConditioningStatus;
      if (INSTALLED.has(type)) {
        assert.deepEqual(gaps, {});
        return;
      }
      assert.ok(gaps.controlnet, `${type} must be rejected`);
      const msg = unavailableMessage(status);
      const dir = status.kind === 'ip-adapter' ? ipAdapterDir(modelsDir) : controlnetDir(modelsDir, type);
      assert.ok(msg.includes(dir), msg);
    });
  }
});
