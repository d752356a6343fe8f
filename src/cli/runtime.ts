// The composition root: opens the database, blob store, queue and engines from one Config, and starts the worker
// and webhook dispatcher when asked. `serve`, `worker` and the tests all build their runtime here.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LocalBlobStore } from '../blobs/local-blob-store.ts';
import { S3BlobStore, s3OptionsFromConfig } from '../blobs/s3-blob-store.ts';
import { createImageUrlSigner } from '../blobs/signed-urls.ts';
import { type Config, databaseTarget } from '../config.ts';
import { JOB_PROMPT, JOB_TRAIN, type Logger, type Services } from '../domain/context.ts';
import type { Engines } from '../domain/ports.ts';
import type { ModelSpec } from '../engine/model-manager.ts';
import { FastMockGenerator } from '../jobs/fast-generator.ts';
import { OrphanSweeper } from '../jobs/orphans.ts';
import { openConfiguredQueue } from '../jobs/pgboss/select-queue.ts';
import { promptJob } from '../jobs/prompt-job.ts';
import { trainJob } from '../jobs/train-job.ts';
import { WebhookDispatcher } from '../jobs/webhooks.ts';
import { Worker } from '../jobs/worker.ts';
import { checkOutboundUrl, guardedFetch, type OutboundPolicy } from '../net/guarded-fetch.ts';
import { ensureSetting } from '../store/accounts.ts';
import { openDatabase } from '../store/db.ts';
import { FastTrainer } from '../train/fast.ts';

/** How often, and after how long, queued work without a job is re-enqueued (src/jobs/orphans.ts). */
const ORPHAN_SWEEP_MS = 60_000;
export interface RuntimeOptions {
  engines?: Engines;
  worker?: boolean;
  dispatcher?: boolean;
  log?: Logger;
  /** DNS override for the outbound guard (tests). */
  outboundLookup?: (host: string) => Promise<string[]>;
  webhookRetryDelay?: (attempt: number) => number;
}

export interface Runtime {
  svc: Services;
  worker: Worker | null;
  dispatcher: WebhookDispatcher | null;
  close(): Promise<void>;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** JSON-lines logger on stderr for the background roles (the HTTP server logs through Fastify's pino). */
export function consoleLogger(level: string): Logger {
  const min = level === 'silent' ? Number.POSITIVE_INFINITY : LEVELS.indexOf(level);
  const at = (lvl: string) => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(lvl) < min) return;
    const o = Object.fromEntries(
      Object.entries(obj).map(([k, v]) => [
        k,
        v instanceof Error ? { message: v.message, stack: v.stack } : v,
      ]),
    );
    process.stderr.write(`${JSON.stringify({ level: lvl, time: new Date().toISOString(), msg, ...o })}\n`);
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** The mock engines of `branch=fast` (API.md §6): always installed, they need no model weights. */
export function defaultEngines(config: Config): Engines {
  return { generators: [new FastMockGenerator()], trainers: [new FastTrainer(config.fastTrainMs)] };
}

/**
 * A tune naming `base_tune_id` trains on that installed model, if it is an sd15 one (the LoRA trainer's family);
 * for any other id the trainer falls back to its default base model. The models-dir functions are passed in
 * because that module is imported lazily.
 */
export function sd15BaseModelResolver(
  dataDir: string,
  dir: Pick<typeof import('../engine/models-dir.ts'), 'findByTune' | 'specOf'>,
): (baseTuneId: number) => ModelSpec | undefined {
  return (id) => {
    const m = dir.findByTune(dataDir, id);
    return m?.branch === 'sd15' ? dir.specOf(dataDir, m) : undefined;
  };
}

/**
 * The engines this installation can run: the real SD generator when an sd15 or sd21 base model is installed under
 * <dataDir>/models (docs/models.md) and the LoRA trainer when an sd15 one is, then the fast mock. Real ones come
 * first, so a tune that names no branch gets sd15 once a model is installed, and `fast` until then. The engine
 * modules (onnxruntime) are imported only when a model is there.
 */
export async function installedEngines(
  config: Config,
  deps: { db: Services['db']; blobs: Services['blobs'] },
  log: Logger,
): Promise<Engines> {
  const engines: Engines = {
    generators: [],
    trainers: [],
    // which controlnet types <dataDir>/models/controlnet holds (docs/conditioning.md); its module loads
    // onnxruntime, so it is imported on first use
    conditioning: async () => {
      const { conditioningAvailability } = await import('../engine/conditioning.ts');
      const { modelsRoot } = await import('../engine/models-dir.ts');
      return conditioningAvailability(modelsRoot(config.dataDir));
    },
  };
  try {
    const { findByTune, isSdBranch, listManifests, modelsRoot, specOf } = await import(
      '../engine/models-dir.ts'
    );
    const installed = listManifests(config.dataDir);
    const served = installed.filter((m) => isSdBranch(m.branch));
    if (served.length) {
      const { createSdGenerator } = await import('./models.ts');
      // the models dir: installed ControlNets (<dataDir>/models/controlnet/<type>) become available types
      engines.generators.push(
        createSdGenerator(config, deps, { generator: { modelsDir: modelsRoot(config.dataDir) } }),
      );
      log.info({ models: served.map((m) => `${m.name} (${m.branch})`) }, 'SD engine installed');
    }
    const sd15 = installed.filter((m) => m.branch === 'sd15');
    if (sd15.length) {
      const { LoraTrainer } = await import('../train/lora-trainer.ts');
      engines.trainers.push(
        new LoraTrainer({
          baseModel: specOf(config.dataDir, sd15[0]),
          resolveBaseModel: sd15BaseModelResolver(config.dataDir, { findByTune, specOf }),
          workDir: join(config.dataDir, 'training'),
        }),
      );
      // faceid tunes: identity embeddings computed at creation (422 naming what to install when missing)
      const { FaceIdTrainer } = await import('../train/faceid.ts');
      engines.trainers.push(new FaceIdTrainer({ modelsDir: modelsRoot(config.dataDir) }));
    }
  } catch (err) {
    log.error({ err }, 'installed models could not be loaded; serving branch=fast only');
  }
  const fast = defaultEngines(config);
  engines.generators.push(...fast.generators);
  engines.trainers.push(...fast.trainers);
  return engines;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const db = await openDatabase(databaseTarget(config));
  const secret = await ensureSetting(db, 'image_url_secret', randomBytes(32).toString('base64url'));
  const policy: OutboundPolicy = {
    allowPrivate: config.outboundAllowPrivate,
    maxBytes: config.outboundMaxBytes,
    timeoutMs: config.outboundTimeoutMs,
    maxRedirects: 5,
    ...(opts.outboundLookup && { lookup: opts.outboundLookup }),
  };
  let dispatcher: WebhookDispatcher | null = null;
  const log = opts.log ?? consoleLogger(config.logLevel);
  const blobs =
    config.blobs === 's3'
      ? new S3BlobStore(s3OptionsFromConfig(config))
      : new LocalBlobStore(join(config.dataDir, 'blobs'));
  const jobs = await openConfiguredQueue(config, db, [JOB_TRAIN, JOB_PROMPT], (err) =>
    log.error({ err }, 'queue connection error'),
  );
  const svc: Services = {
    config,
    db,
    blobs,
    queue: jobs.queue,
    engines: opts.engines ?? (await installedEngines(config, { db, blobs }, log)),
    signer: createImageUrlSigner(secret, config.publicBaseUrl, config.imageUrlTtlSec),
    outbound: {
      policy,
      fetch: (url, init) => guardedFetch(url, init, policy),
      check: (url) => checkOutboundUrl(url, policy),
    },
    log,
    notifyWebhook: () => dispatcher?.wake(),
  };
  if (opts.dispatcher ?? true) {
    dispatcher = new WebhookDispatcher(svc, {
      concurrency: config.webhookConcurrency,
      pollMs: config.webhookPollMs,
      lockMs: config.outboundTimeoutMs * 2,
      retryDelay: opts.webhookRetryDelay,
    });
    dispatcher.start();
  }
  let worker: Worker | null = null;
  if (opts.worker ?? config.workerInProcess) {
    worker = new Worker(
      svc.queue,
      { [JOB_TRAIN]: trainJob(svc), [JOB_PROMPT]: promptJob(svc) },
      {
        concurrency: config.workerConcurrency,
        leaseMs: config.jobLeaseMs,
        pollMs: config.jobPollMs,
        onError: (err, jobId) => svc.log.error({ err, job: jobId }, 'job error'),
      },
    );
    worker.start();
  }
  // Workers also re-enqueue queued rows whose job was never created (a crash between the two writes).
  const sweeper = worker
    ? new OrphanSweeper(svc, { intervalMs: ORPHAN_SWEEP_MS, graceMs: ORPHAN_SWEEP_MS })
    : null;
  sweeper?.start();
  return {
    svc,
    worker,
    dispatcher,
    async close() {
      await sweeper?.stop();
      await worker?.stop();
      await dispatcher?.stop();
      await jobs.close();
      await db.destroy();
    },
  };
}
