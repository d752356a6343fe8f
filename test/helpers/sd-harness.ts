// The API harness with the real SD generator: the tiny fixture model registered with `atelier models add` as a
// base-model tune, the SdGenerator's pipelines on a worker thread (as in the server), the mock generator and trainer
// beside it. Shared by the end-to-end tests that generate for real.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runModelsCommand, storeModelResolver } from '../../src/cli/models.ts';
import type { Trainer } from '../../src/domain/ports.ts';
import { type ModelResolver, SdGenerator } from '../../src/engine/sd-generator.ts';
import { ThreadRunner } from '../../src/engine/thread-runner.ts';
import { FastMockGenerator } from '../../src/jobs/fast-generator.ts';
import { FastTrainer } from '../../src/train/fast.ts';
import { type Harness, harness, waitFor } from '../api/helpers.ts';
import { fixturePath } from './fixtures.ts';

export interface SdHarness {
  h: Harness;
  generator: SdGenerator;
  close(): Promise<void>;
}

export async function sdHarness(opts: {
  baseTune: number;
  /** folder name of the registered model */
  name: string;
  defaultSteps: number;
  /** where the generator finds ControlNets, adapters and face networks */
  modelsDir?: string;
  /** trainers ahead of the fast mock trainer */
  trainers?: Trainer[];
}): Promise<SdHarness> {
  const runner = new ThreadRunner({
    cacheDir: join(process.cwd(), '.cache', 'graphs'),
    session: { intraOpThreads: 1 },
  });
  // the resolver needs the runtime's store, which exists only once the harness has opened it
  let resolver: ModelResolver | undefined;
  const lazy: ModelResolver = {
    baseModel: (t) => (resolver as ModelResolver).baseModel(t),
    loraFile: (id) => (resolver as ModelResolver).loraFile(id),
  };
  const generator = new SdGenerator(runner, lazy, {
    format: 'png',
    ...(opts.modelsDir && { modelsDir: opts.modelsDir }),
  });
  const h = await harness(
    // a long lease: a real decode on a loaded 2-core machine can outlast the harness's 2 s lease
    { jobLeaseMs: 120_000 },
    {
      engines: {
        generators: [new FastMockGenerator(), generator],
        trainers: [...(opts.trainers ?? []), new FastTrainer(50)],
      },
    },
  );
  resolver = storeModelResolver({
    db: h.rt.svc.db,
    blobs: h.rt.svc.blobs,
    dataDir: h.config.dataDir,
    loraDir: join(h.dir, 'loras'),
  });
  const lines: string[] = [];
  const rc = await runModelsCommand(
    [
      'add',
      fixturePath('sd-reference', 'model'),
      '--name',
      opts.name,
      '--tune-id',
      String(opts.baseTune),
      '--tokenizer',
      fixturePath('clip-tokenizer'),
      '--default-sampler',
      'euler',
      '--default-steps',
      String(opts.defaultSteps),
    ],
    h.config,
    { out: (l) => lines.push(l) },
  );
  assert.equal(rc, 0, lines.join('\n'));
  return {
    h,
    generator,
    async close() {
      await h.close();
      await generator.close();
    },
  };
}

/** Real generation on a shared CI machine can take far longer than the mock: wait up to 5 minutes. */
export function finishedPrompt(h: Harness, url: string): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const p = (await h.req({ method: 'GET', url })).json();
      return ['completed', 'failed', 'cancelled'].includes(p.status) ? p : null;
    },
    `prompt ${url} finished`,
    300_000,
  );
}
