// One typed configuration object, validated once from defaults + ATELIER_* environment variables.
// Every variable is documented in docs/configuration.md.
import { resolve } from 'node:path';
import { z } from 'zod';

const bool = z.preprocess(
  (v) => (typeof v === 'string' ? /^(1|true|yes|on)$/i.test(v.trim()) : v),
  z.boolean(),
);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

export const configSchema = z.object({
  host: z.string().default('127.0.0.1').describe('ATELIER_HOST: interface the HTTP server binds to'),
  port: int(0, 65535).default(3000).describe('ATELIER_PORT: HTTP port'),
  publicBaseUrl: z
    .string()
    .url()
    .optional()
    .describe('ATELIER_PUBLIC_BASE_URL: absolute base for `url` fields and image links'),
  dataDir: z.string().default('./data').describe('ATELIER_DATA_DIR: SQLite file and blobs live here'),
  databaseFile: z
    .string()
    .optional()
    .describe('ATELIER_DATABASE_FILE: SQLite path (default <dataDir>/atelier.db)'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .describe('ATELIER_DATABASE_URL: use PostgreSQL instead of the SQLite file'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Branch used when a tune names none and has no base tune (first installed trainer otherwise). */
  defaultBranch: z.string().optional().describe('ATELIER_DEFAULT_BRANCH'),
  workerInProcess: bool
    .default(true)
    .describe('ATELIER_WORKER_IN_PROCESS: run the job worker inside `serve`'),
  workerConcurrency: int(1, 64)
    .default(1)
    .describe('ATELIER_WORKER_CONCURRENCY: jobs run at once per worker'),
  jobLeaseMs: int(1000)
    .default(30_000)
    .describe('ATELIER_JOB_LEASE_MS: lease length; renewed at a third of it'),
  jobPollMs: int(10).default(1000).describe('ATELIER_JOB_POLL_MS: idle poll interval of the worker'),
  jobMaxAttempts: int(1, 100).default(3).describe('ATELIER_JOB_MAX_ATTEMPTS: attempts before a job fails'),
  jobRetryBaseMs: int(0)
    .default(5000)
    .describe('ATELIER_JOB_RETRY_BASE_MS: first retry delay, doubled per attempt'),
  fastTrainMs: int(0).default(3000).describe('ATELIER_FAST_TRAIN_MS: how long a branch=fast tune "trains"'),
  imageUrlTtlSec: int(60)
    .default(7 * 24 * 3600)
    .describe('ATELIER_IMAGE_URL_TTL_SEC: signed image URL lifetime'),
  uploadMaxFileBytes: int(1024)
    .default(20 * 1024 * 1024)
    .describe('ATELIER_UPLOAD_MAX_FILE_BYTES'),
  loraMaxBytes: int(1024)
    .default(200 * 1024 * 1024)
    .describe('ATELIER_LORA_MAX_BYTES: largest LoRA file a tune import accepts (upload or lora_url)'),
  uploadMaxFiles: int(1).default(24).describe('ATELIER_UPLOAD_MAX_FILES: file parts per request'),
  bodyMaxBytes: int(1024)
    .default(200 * 1024 * 1024)
    .describe('ATELIER_BODY_MAX_BYTES: whole request body'),
  imageMaxPixels: int(1)
    .default(40_000_000)
    .describe('ATELIER_IMAGE_MAX_PIXELS: decoded-pixel cap per image'),
  outboundAllowPrivate: bool
    .default(false)
    .describe('ATELIER_OUTBOUND_ALLOW_PRIVATE: let callbacks/image_urls reach private or loopback hosts'),
  outboundTimeoutMs: int(100).default(15_000).describe('ATELIER_OUTBOUND_TIMEOUT_MS'),
  outboundMaxBytes: int(1024)
    .default(25 * 1024 * 1024)
    .describe('ATELIER_OUTBOUND_MAX_BYTES'),
  httpRequestTimeoutMs: int(1000)
    .default(300_000)
    .describe('ATELIER_HTTP_REQUEST_TIMEOUT_MS: whole request (headers and body) must arrive within this'),
  httpIdleTimeoutMs: int(1000)
    .default(60_000)
    .describe(
      'ATELIER_HTTP_IDLE_TIMEOUT_MS: a connection that sends or receives nothing this long is closed',
    ),
  rateLimitPerMinute: int(0)
    .default(600)
    .describe('ATELIER_RATE_LIMIT_PER_MINUTE: requests per account per minute (burst as large); 0 = off'),
  apiKeyCacheMs: int(0, 600_000)
    .default(5000)
    .describe(
      'ATELIER_API_KEY_CACHE_MS: how long a verified API key is remembered; a key revoked by another process works here up to this long; 0 = look up every request',
    ),
  webhookPollMs: int(10).default(1000).describe('ATELIER_WEBHOOK_POLL_MS: delivery loop idle interval'),
  webhookConcurrency: int(1, 64).default(4).describe('ATELIER_WEBHOOK_CONCURRENCY: deliveries in flight'),
  queue: z
    .enum(['embedded', 'pgboss'])
    .default('embedded')
    .describe('ATELIER_QUEUE: job queue; pgboss needs ATELIER_DATABASE_URL (docs/scale-out.md)'),
  blobs: z
    .enum(['local', 's3'])
    .default('local')
    .describe('ATELIER_BLOBS: file storage; s3 needs ATELIER_S3_*'),
  s3Endpoint: z
    .string()
    .url()
    .optional()
    .describe('ATELIER_S3_ENDPOINT: e.g. https://s3.eu-west-1.amazonaws.com'),
  s3Bucket: z.string().optional().describe('ATELIER_S3_BUCKET'),
  s3Region: z.string().default('us-east-1').describe('ATELIER_S3_REGION'),
  s3AccessKeyId: z.string().optional().describe('ATELIER_S3_ACCESS_KEY_ID'),
  s3SecretAccessKey: z.string().optional().describe('ATELIER_S3_SECRET_ACCESS_KEY'),
  s3Prefix: z.string().optional().describe('ATELIER_S3_PREFIX: key prefix inside the bucket'),
  metricsToken: z
    .string()
    .optional()
    .describe('ATELIER_METRICS_TOKEN: bearer token for GET /metrics (unset: loopback callers only)'),
  packsFile: z
    .string()
    .optional()
    .describe(
      'ATELIER_PACKS_FILE: JSON file (or folder of them) of gallery packs, loaded at start (docs/packs.md)',
    ),
  // The two below are read where they are used (the generation thread, src/engine/load.ts), from the
  // environment; listed here so a bad value stops the server at start and `--help` documents them.
  srModel: z
    .enum(['thick', 'medium', 'slim'])
    .default('thick')
    .describe('ATELIER_SR_MODEL: ESRGAN network of super_resolution (docs/post.md): thick, medium or slim'),
  graphCache: z
    .string()
    .optional()
    .describe('ATELIER_GRAPH_CACHE: folder of compiled ONNX graphs (default ./.cache/graphs)'),
});

export type Config = z.infer<typeof configSchema> & { databaseFile: string; publicBaseUrl: string };

const ENV_NAMES: Record<string, string> = {
  host: 'ATELIER_HOST',
  port: 'ATELIER_PORT',
  publicBaseUrl: 'ATELIER_PUBLIC_BASE_URL',
  dataDir: 'ATELIER_DATA_DIR',
  databaseFile: 'ATELIER_DATABASE_FILE',
  databaseUrl: 'ATELIER_DATABASE_URL',
  logLevel: 'ATELIER_LOG_LEVEL',
  defaultBranch: 'ATELIER_DEFAULT_BRANCH',
  workerInProcess: 'ATELIER_WORKER_IN_PROCESS',
  workerConcurrency: 'ATELIER_WORKER_CONCURRENCY',
  jobLeaseMs: 'ATELIER_JOB_LEASE_MS',
  jobPollMs: 'ATELIER_JOB_POLL_MS',
  jobMaxAttempts: 'ATELIER_JOB_MAX_ATTEMPTS',
  jobRetryBaseMs: 'ATELIER_JOB_RETRY_BASE_MS',
  fastTrainMs: 'ATELIER_FAST_TRAIN_MS',
  imageUrlTtlSec: 'ATELIER_IMAGE_URL_TTL_SEC',
  uploadMaxFileBytes: 'ATELIER_UPLOAD_MAX_FILE_BYTES',
  loraMaxBytes: 'ATELIER_LORA_MAX_BYTES',
  uploadMaxFiles: 'ATELIER_UPLOAD_MAX_FILES',
  bodyMaxBytes: 'ATELIER_BODY_MAX_BYTES',
  imageMaxPixels: 'ATELIER_IMAGE_MAX_PIXELS',
  outboundAllowPrivate: 'ATELIER_OUTBOUND_ALLOW_PRIVATE',
  outboundTimeoutMs: 'ATELIER_OUTBOUND_TIMEOUT_MS',
  outboundMaxBytes: 'ATELIER_OUTBOUND_MAX_BYTES',
  httpRequestTimeoutMs: 'ATELIER_HTTP_REQUEST_TIMEOUT_MS',
  httpIdleTimeoutMs: 'ATELIER_HTTP_IDLE_TIMEOUT_MS',
  rateLimitPerMinute: 'ATELIER_RATE_LIMIT_PER_MINUTE',
  apiKeyCacheMs: 'ATELIER_API_KEY_CACHE_MS',
  webhookPollMs: 'ATELIER_WEBHOOK_POLL_MS',
  webhookConcurrency: 'ATELIER_WEBHOOK_CONCURRENCY',
  queue: 'ATELIER_QUEUE',
  blobs: 'ATELIER_BLOBS',
  s3Endpoint: 'ATELIER_S3_ENDPOINT',
  s3Bucket: 'ATELIER_S3_BUCKET',
  s3Region: 'ATELIER_S3_REGION',
  s3AccessKeyId: 'ATELIER_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'ATELIER_S3_SECRET_ACCESS_KEY',
  s3Prefix: 'ATELIER_S3_PREFIX',
  metricsToken: 'ATELIER_METRICS_TOKEN',
  packsFile: 'ATELIER_PACKS_FILE',
  srModel: 'ATELIER_SR_MODEL',
  graphCache: 'ATELIER_GRAPH_CACHE',
};

export class ConfigError extends Error {}

/** Validate once: explicit overrides win over env vars, which win over defaults. */
export function loadConfig(
  overrides: Partial<z.input<typeof configSchema>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const parsed = configSchema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `${ENV_NAMES[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`,
    );
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = parsed.data;
  const dataDir = resolve(c.dataDir);
  return {
    ...c,
    dataDir,
    databaseFile: c.databaseFile ? resolve(c.databaseFile) : resolve(dataDir, 'atelier.db'),
    publicBaseUrl: (
      c.publicBaseUrl ?? `http://${c.host === '0.0.0.0' ? '127.0.0.1' : c.host}:${c.port}`
    ).replace(/\/+$/, ''),
  };
}

export const ENV_VARS = ENV_NAMES;

/** What openDatabase() opens: the PostgreSQL URL when configured, else the SQLite file. */
export function databaseTarget(c: Config): string {
  return c.databaseUrl ?? c.databaseFile;
}

/** The database for log lines: the SQLite file, or the PostgreSQL URL with its password masked. */
export function describeDatabase(c: Config): string {
  if (!c.databaseUrl) return `SQLite ${c.databaseFile}`;
  try {
    const u = new URL(c.databaseUrl);
    if (u.password) u.password = '***';
    return `PostgreSQL ${u.toString()}`;
  } catch {
    return 'PostgreSQL (unparsable URL)';
  }
}
