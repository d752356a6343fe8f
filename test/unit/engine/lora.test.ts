// LoRA readers and merge against refs/lora.json (diffusers 0.26 fuse_lora with lora_scale 0.7): fused weights for
// both file formats, the fused UNet's output, the fused text encoder's hidden states, and the merge-mode graphs
// (patched weights file, same graph) through the model manager.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  detectLoraFormat,
  type LoraTargets,
  type LoraWeights,
  mergeLoras,
  readLora,
  TargetIndex,
} from '../../../src/engine/checkpoint/lora.ts';
import { openCheckpoint } from '../../../src/engine/checkpoint/open.ts';
import { SafetensorsFile } from '../../../src/engine/checkpoint/safetensors.ts';
import { ModelManager } from '../../../src/engine/model-manager.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { type RefTensor, tensor } from './parity.ts';
import { maxAbsDiff, pipelineRef, tempDir } from './pipeline/helpers.ts';

interface LoraRef {
  lora_scale: number;
  results: Record<
    'kohya' | 'diffusers',
    {
      changed_unet_params: string[];
      changed_text_encoder_params: string[];
      fused_weights: Record<string, { base: RefTensor; fused: RefTensor }>;
      unet_cases: { timestep: number; output: RefTensor }[];
      text_encoder_case: { input_ids: number[]; last_hidden_state: RefTensor };
    }
  >;
}
interface UnetRef {
  sample: RefTensor;
  encoder_hidden_states: RefTensor;
}

const MODEL = () => fixturePath('sd-reference', 'model');
const FILES = { kohya: 'lora_kohya.safetensors', diffusers: 'lora_diffusers.safetensors' } as const;

let targets: LoraTargets;
let readBase: Record<'unet' | 'text_encoder', (n: string) => Float32Array>;
const ck = () => openCheckpoint(MODEL());
let opened: ReturnType<typeof openCheckpoint>;
before(() => {
  opened = ck();
  const un = opened.unet!.source;
  const te = opened.text_encoder!.source;
  targets = { unet: new TargetIndex(un.names()), text_encoder: new TargetIndex(te.names()) };
  readBase = { unet: (n) => un.read(n), text_encoder: (n) => te.read(n) };
});
after(() => opened.close());

function load(kind: keyof typeof FILES): LoraWeights {
  const file = SafetensorsFile.open(fixturePath('sd-reference', 'lora', FILES[kind]));
  try {
    return readLora(file, targets);
  } finally {
    file.close();
  }
}

for (const kind of ['kohya', 'diffusers'] as const) {
  test(`${kind} file: detected format, exactly the reference's changed layers, fused weights equal diffusers'`, (t) => {
    const ref = pipelineRef<LoraRef>('lora.json');
    const res = ref.results[kind];
    const w = load(kind);
    assert.equal(w.format, kind);
    const unet = mergeLoras('unet', [{ weights: w, scale: ref.lora_scale }], readBase.unet);
    const te = mergeLoras('text_encoder', [{ weights: w, scale: ref.lora_scale }], readBase.text_encoder);
    assert.deepEqual([...unet.keys()].sort(), [...res.changed_unet_params].sort());
    assert.deepEqual([...te.keys()].sort(), [...res.changed_text_encoder_params].sort());
    let worst = 0;
    for (const [name, v] of Object.entries(res.fused_weights)) {
      const [component, ...rest] = name.split('.');
      const ours = (component === 'unet' ? unet : te).get(rest.join('.'));
      assert.ok(ours, name);
      worst = Math.max(worst, maxAbsDiff(ours, tensor(v.fused).data));
    }
    t.diagnostic(`fused weights max |diff| ${worst}`);
    assert.ok(worst < 1e-6, `fused weights max |diff| ${worst}`);
  });
}

test('scales add up: two copies at 0.35 each merge to the same weights as one at 0.7', () => {
  const w = load('kohya');
  const one = mergeLoras('unet', [{ weights: w, scale: 0.7 }], readBase.unet);
  const two = mergeLoras(
    'unet',
    [
      { weights: w, scale: 0.35 },
      { weights: w, scale: 0.35 },
    ],
    readBase.unet,
  );
  for (const [k, v] of one) assert.ok(maxAbsDiff(v, two.get(k)!) < 1e-6);
  assert.equal(mergeLoras('unet', [{ weights: w, scale: 0 }], readBase.unet).size, 0);
});

test('a file that is not a LoRA is refused by name', () => {
  const file = SafetensorsFile.open(
    fixturePath('sd-reference', 'model', 'vae', 'diffusion_pytorch_model.safetensors'),
  );
  try {
    assert.throws(() => detectLoraFormat(file), /not a LoRA file/);
  } finally {
    file.close();
  }
});

test('merge mode: the manager patches the compiled graphs; fused UNet and text encoder match diffusers', async (t) => {
  const ref = pipelineRef<LoraRef>('lora.json');
  const unetRef = pipelineRef<UnetRef>('unet.json');
  const cacheDir = tempDir('lora-graphs');
  const mm = new ModelManager({ cacheDir, session: { intraOpThreads: 1 } });
  try {
    const spec = { key: 'tiny', path: MODEL(), tokenizerDir: fixturePath('clip-tokenizer') };
    for (const kind of ['kohya', 'diffusers'] as const) {
      const res = ref.results[kind];
      const lease = await mm.acquire(spec, [
        { id: kind, path: fixturePath('sd-reference', 'lora', FILES[kind]), scale: ref.lora_scale },
      ]);
      try {
        for (const c of res.unet_cases) {
          const out = await lease.model.unet.predict(
            tensor(unetRef.sample),
            c.timestep,
            tensor(unetRef.encoder_hidden_states),
          );
          const d = maxAbsDiff(out.data, tensor(c.output).data);
          t.diagnostic(`${kind} UNet t=${c.timestep} max |diff| ${d}`);
          assert.ok(d < 1e-4, `${kind} unet t=${c.timestep}: ${d}`);
        }
        const hs = await lease.model.clip.encode(Int32Array.from(res.text_encoder_case.input_ids));
        const d = maxAbsDiff(hs.data, tensor(res.text_encoder_case.last_hidden_state).data);
        assert.ok(d < 1e-4, `${kind} text encoder: ${d}`);
      } finally {
        lease.release();
      }
    }
    // same LoRA set again: nothing is loaded or merged
    const again = await mm.acquire(spec, [
      { id: 'kohya', path: fixturePath('sd-reference', 'lora', FILES.kohya), scale: ref.lora_scale },
    ]);
    assert.equal(again.reused, true);
    again.release();
    assert.deepEqual({ base: mm.stats().baseLoads, lora: mm.stats().loraLoads }, { base: 1, lora: 2 });
  } finally {
    await mm.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});
