// Shared set-up of the pipeline parity tests: the tiny fixture model opened once per test file.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoadedSdModel, openSdModel } from '../../../../src/engine/model-manager.ts';
import type { Conditioning } from '../../../../src/engine/pipeline/index.ts';
import { fixturePath } from '../../../helpers/fixtures.ts';
import { type RefTensor, tensor } from '../parity.ts';

export const GRAPH_CACHE = join(process.cwd(), '.cache', 'graphs');

export function openFixtureModel(withInpaint = false): Promise<LoadedSdModel> {
  return openSdModel(
    {
      key: 'tiny-sd15',
      path: fixturePath('sd-reference', 'model'),
      tokenizerDir: fixturePath('clip-tokenizer'),
      inpaintUnetPath: withInpaint ? fixturePath('sd-reference', 'model-inpaint') : undefined,
    },
    { cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } },
  );
}

export function tempDir(stem: string): string {
  return mkdtempSync(join(tmpdir(), `atelier-${stem}-`));
}

/** The conditioning stored in a pipeline reference file (prompt_embeds / negative_prompt_embeds). */
export function refConditioning(ref: Record<string, unknown>): Conditioning {
  return {
    cond: tensor(ref.prompt_embeds as RefTensor),
    uncond: tensor(ref.negative_prompt_embeds as RefTensor),
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

const refs = new Map<string, unknown>();

/** A reference file under sd-reference/refs; Python wrote -Infinity (a scheduler config field) as bare JSON. */
export function pipelineRef<T>(name: string): T {
  if (!refs.has(name)) {
    const text = readFileSync(fixturePath('sd-reference', 'refs', name), 'utf8');
    refs.set(name, JSON.parse(text.replace(/-Infinity/g, 'null')));
  }
  return refs.get(name) as T;
}
