// Helpers for the engine's parity tests: reference tensors from the fixture JSON and error measures.

import { readFileSync } from 'node:fs';
import type { Tensor } from '../../../src/engine/components.ts';
import { fixturePath } from '../../helpers/fixtures.ts';

export interface RefTensor {
  shape: number[];
  dtype: string;
  data: number[];
}

const cache = new Map<string, unknown>();

/** Parsed JSON of a file under sd-reference/refs (cached per process). */
export function refJson<T = Record<string, unknown>>(name: string): T {
  if (!cache.has(name))
    cache.set(name, JSON.parse(readFileSync(fixturePath('sd-reference', 'refs', name), 'utf8')));
  return cache.get(name) as T;
}

/** A reference tensor with every number rounded to its exact float32 value. */
export function tensor(t: RefTensor): Tensor {
  return { data: Float32Array.from(t.data, Math.fround), dims: [...t.shape] };
}

export interface ErrorStats {
  maxAbs: number;
  /** max |a - r| / max |r| */
  maxRel: number;
}

export function compare(actual: Tensor, expected: Tensor): ErrorStats {
  if (actual.dims.join(',') !== expected.dims.join(',')) {
    throw new Error(`shape mismatch: got [${actual.dims}], expected [${expected.dims}]`);
  }
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs(actual.data[i] - expected.data[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
  }
  return { maxAbs, maxRel: maxAbs / maxRef };
}

export const MODEL_DIR = () => fixturePath('sd-reference', 'model');
export const SINGLE_FILE = () => fixturePath('sd-reference', 'checkpoint', 'tiny-sd15-public.safetensors');
