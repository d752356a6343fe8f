// What domain commands and job handlers need, assembled once by src/cli/runtime.ts (the composition root).
import type { BlobStore } from '../blobs/blob-store.ts';
import type { ImageUrlSigner } from '../blobs/signed-urls.ts';
import type { Config } from '../config.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { OutboundInit, OutboundPolicy, OutboundResponse } from '../net/guarded-fetch.ts';
import type { Db } from '../store/db.ts';
import type { Presentation } from '../store/schema.ts';
import type { Engines } from './ports.ts';

export interface Outbound {
  policy: OutboundPolicy;
  fetch(url: string, init: OutboundInit): Promise<OutboundResponse>;
  /** Throws OutboundBlockedError for a refused target. */
  check(url: string): Promise<void>;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Services {
  config: Config;
  db: Db;
  blobs: BlobStore;
  queue: JobQueue;
  engines: Engines;
  signer: ImageUrlSigner;
  outbound: Outbound;
  log: Logger;
  /** Wake the webhook dispatcher after a delivery is queued (no-op when it runs in another process). */
  notifyWebhook(): void;
}

/** The caller: its account, and how images are presented to it (API.md §3 astria-compat keys). */
export interface Actor {
  accountId: number;
  presentation: Presentation;
}

export const JOB_TRAIN = 'train';
export const JOB_PROMPT = 'prompt';
