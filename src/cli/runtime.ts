// The composition root: opens the database, blob store, queue and engines from one Config, and starts the worker
// and webhook dispatcher when asked. `serve`, `worker` and the tests all build their runtime here.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LocalBlobStore } from '../blobs/local-blob-store.ts';
import { createImageUrlSigner } from '../blobs/signed-urls.ts';
import { type Config, databaseTarget } from '../config.ts';
import { JOB_PROMPT, JOB_TRAIN, type Logger, type Services } from '../domain/context.ts';
import type { Engines } from '../domain/ports.ts';
import { EmbeddedQueue } from '../jobs/embedded-queue.ts';
import { FastMockGenerator } from '../jobs/fast-generator.ts';
import { promptJob } from '../jobs/prompt-job.ts';
import { trainJob } from '../jobs/train-job.ts';
import { WebhookDispatcher } from '../jobs/webhooks.ts';
import { Worker } from '../jobs/worker.ts';
import { checkOutboundUrl, guardedFetch, type OutboundPolicy } from '../net/guarded-fetch.ts';
import { ensureSetting } from '../store/accounts.ts';
import { openDatabase } from '../store/db.ts';
import { FastTrainer } from '../train/fast.ts';

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

/** The embedded engines: until the real engine and trainers land, branch=fast (mock) is what is installed. */
export function defaultEngines(config: Config): Engines {
  return { generators: [new FastMockGenerator()], trainers: [new FastTrainer(config.fastTrainMs)] };
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
  const svc: Services = {
    config,
    db,
    blobs: new LocalBlobStore(join(config.dataDir, 'blobs')),
    queue: new EmbeddedQueue(db, {
      leaseMs: config.jobLeaseMs,
      maxAttempts: config.jobMaxAttempts,
      retryBaseMs: config.jobRetryBaseMs,
    }),
    engines: opts.engines ?? defaultEngines(config),
    signer: createImageUrlSigner(secret, config.publicBaseUrl, config.imageUrlTtlSec),
    outbound: {
      policy,
      fetch: (url, init) => guardedFetch(url, init, policy),
      check: (url) => checkOutboundUrl(url, policy),
    },
    log: opts.log ?? consoleLogger(config.logLevel),
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
  return {
    svc,
    worker,
    dispatcher,
    async close() {
      await worker?.stop();
      await dispatcher?.stop();
      await db.destroy();
    },
  };
}
