// Resumable training state in the work dir: the LoRA matrices, AdamW's moments and the step counter in one
// safetensors file (`state.safetensors`), written to a temporary name and renamed so a worker killed
// mid-write leaves the previous checkpoint intact. The random draws of step s depend only on (seed, s), so a
// resumed run continues exactly where the killed one would have gone.

import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, type TensorToWrite, writeSafetensors } from '../engine/checkpoint/safetensors.ts';
import { AdamW, type AdamWConfig } from './adamw.ts';
import type { LoraParams } from './lora-file.ts';

export const STATE_FILE = 'state.safetensors';

export interface TrainState {
  /** completed training steps */
  step: number;
  params: LoraParams;
  optimizer: AdamW;
  /** the run's settings, to refuse resuming a different run */
  fingerprint: string;
  lastLoss: number;
}

export function saveTrainState(dir: string, s: TrainState): string {
  mkdirSync(dir, { recursive: true });
  const tensors: TensorToWrite[] = [];
  for (const [name, p] of s.params) {
    const slot = s.optimizer.slots.get(name);
    tensors.push({ name: `param/${name}`, dtype: 'F32', shape: [p.length], data: p });
    if (slot) {
      tensors.push({ name: `adam_m/${name}`, dtype: 'F32', shape: [p.length], data: slot.m });
      tensors.push({ name: `adam_v/${name}`, dtype: 'F32', shape: [p.length], data: slot.v });
    }
  }
  const path = join(dir, STATE_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  writeSafetensors(tmp, tensors, {
    step: String(s.step),
    adam_step: String(s.optimizer.step),
    adam_config: JSON.stringify(s.optimizer.config),
    fingerprint: s.fingerprint,
    last_loss: String(s.lastLoss),
  });
  renameSync(tmp, path);
  return path;
}

/** The saved state, or undefined when there is none or it belongs to another run (other settings). */
export function loadTrainState(dir: string, fingerprint: string): TrainState | undefined {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) return undefined;
  const file = SafetensorsFile.open(path);
  try {
    const meta = file.metadata;
    if (meta.fingerprint !== fingerprint) return undefined;
    const optimizer = new AdamW(JSON.parse(meta.adam_config) as AdamWConfig);
    optimizer.step = Number(meta.adam_step);
    const params: LoraParams = new Map();
    for (const key of file.tensors.keys()) {
      if (!key.startsWith('param/')) continue;
      const name = key.slice('param/'.length);
      params.set(name, file.readFloat32(key));
      if (file.tensors.has(`adam_m/${name}`)) {
        optimizer.slots.set(name, {
          m: file.readFloat32(`adam_m/${name}`),
          v: file.readFloat32(`adam_v/${name}`),
        });
      }
    }
    return { step: Number(meta.step), params, optimizer, fingerprint, lastLoss: Number(meta.last_loss) };
  } finally {
    file.close();
  }
}
