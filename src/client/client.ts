// The typed Atelier client: tunes and prompts CRUD over Node 20's global fetch/FormData/Blob, multipart uploads
// from paths or bytes, and waitFor() that follows the server's event stream and falls back to polling when the
// server has none (a `route_not_found` 404, or an answer that is not text/event-stream).
import { AtelierError, AtelierNetworkError, AtelierTimeoutError, apiError } from './errors.ts';
import { isBinarySource, isRemoteImage } from './files.ts';
import { file, toFormData } from './form.ts';
import { readEvents } from './sse.ts';
import type {
  Conditioning,
  ProgressUpdate,
  Prompt,
  PromptCreate,
  PromptListOptions,
  Tune,
  TuneCreate,
  TuneListOptions,
  TunePatch,
  User,
  WebhookDelivery,
} from './types.ts';

export interface ClientOptions {
  /** e.g. http://127.0.0.1:3000 (a path prefix is kept) */
  baseUrl: string;
  apiKey: string;
  /** Per-request time limit for ordinary calls (ms, default 60 000). waitFor has its own. */
  timeoutMs?: number;
  userAgent?: string;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Sent as the Idempotency-Key header (POST only): a retry with the same key replays the first answer. */
  idempotencyKey?: string;
}

export interface WaitOptions {
  onProgress?: (update: ProgressUpdate) => void;
  signal?: AbortSignal;
  /** Give up after this long (ms); default: wait until done or aborted. */
  timeoutMs?: number;
  /** Polling interval when the server has no event stream (ms, default 1000). */
  pollIntervalMs?: number;
  /** false: skip the event stream and poll. */
  events?: boolean;
}

export type Kind = 'tune' | 'prompt';

const FINAL: Record<Kind, ReadonlySet<string>> = {
  tune: new Set(['trained', 'failed']),
  prompt: new Set(['completed', 'failed', 'cancelled']),
};

/** Whether a tune or prompt has reached a final state (Astria servers without `status`: `trained_at`). */
export function isFinal(kind: Kind, o: { status?: string | null; trained_at?: string | null }): boolean {
  if (typeof o.status === 'string') return FINAL[kind].has(o.status);
  return o.trained_at != null;
}

/** Image URLs of a prompt, whichever presentation the key has ({id, url} objects or plain strings). */
export function promptImageUrls(p: Pick<Prompt, 'images'>): string[] {
  return (p.images as unknown[]).map((i) => (typeof i === 'string' ? i : (i as { url: string }).url));
}

type Query = Record<string, string | number | undefined>;

export const CLIENT_VERSION = '0.1.0';

export class AtelierClient {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly fetchImpl: typeof fetch;
  /** Kinds whose event stream this server lacks: waitFor polls them without asking again. */
  private readonly noEventStream = new Set<Kind>();

  constructor(opts: ClientOptions) {
    if (!opts.baseUrl) throw new AtelierError('baseUrl is required');
    if (!opts.apiKey) throw new AtelierError('apiKey is required');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.userAgent = opts.userAgent ?? `atelier-client/${CLIENT_VERSION}`;
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
  }

  // ---- tunes ------------------------------------------------------------------------------------------------

  readonly tunes = {
    /** POST /tunes. Binary images go as multipart; URL and data-URL images as JSON. */
    create: async (input: TuneCreate, opts: RequestOptions = {}): Promise<Tune> => {
      const { images = [], image_urls = [], ...fields } = input;
      const urls = [
        ...image_urls,
        ...images.filter((i): i is string => typeof i === 'string' && /^https?:/i.test(i)),
      ];
      const dataUrls = images.filter((i): i is string => typeof i === 'string' && /^data:/i.test(i));
      const binaries = images.filter((i) => isBinarySource(i));
      const tune: Record<string, unknown> = { ...fields, ...(urls.length && { image_urls: urls }) };
      if (binaries.length === 0) {
        if (dataUrls.length) tune.images = dataUrls;
        return this.request('POST', '/tunes', { ...opts, json: { tune } });
      }
      tune.images = [...binaries.map((b, i) => file(b, `image-${i + 1}`)), ...dataUrls];
      return this.request('POST', '/tunes', { ...opts, form: { tune } });
    },
    list: (o: TuneListOptions = {}, opts: RequestOptions = {}): Promise<Tune[]> =>
      this.request('GET', '/tunes', {
        ...opts,
        query: {
          limit: o.limit,
          offset: o.offset,
          before_id: o.beforeId,
          title: o.title,
          branch: o.branch,
          model_type: o.modelType,
        },
      }),
    get: (id: number, opts: RequestOptions = {}): Promise<Tune> => this.request('GET', `/tunes/${id}`, opts),
    update: (id: number, patch: TunePatch, opts: RequestOptions = {}): Promise<Tune> =>
      this.request('PATCH', `/tunes/${id}`, { ...opts, json: { tune: patch } }),
    /** Deletes the tune, its prompts and images; answers the tune as it was. */
    delete: (id: number, opts: RequestOptions = {}): Promise<Tune> =>
      this.request('DELETE', `/tunes/${id}`, opts),
    /** Waits until the tune is trained or failed. */
    wait: (id: number, opts: WaitOptions = {}): Promise<Tune> =>
      this.waitFor('tune', id, opts) as Promise<Tune>,
  };

  // ---- prompts ----------------------------------------------------------------------------------------------

  readonly prompts = {
    /**
     * POST /tunes/:tuneId/prompts. `input_image`/`mask_image` given as paths or bytes go as multipart; given as
     * http(s) URLs they become `input_image_url`/`mask_image_url`, as data URLs `input_image_base64`.
     */
    create: async (tuneId: number, input: PromptCreate, opts: RequestOptions = {}): Promise<Prompt> => {
      const { input_image, mask_image, ...params } = input;
      const prompt: Record<string, unknown> = { ...params };
      let binary = false;
      if (input_image !== undefined) {
        if (typeof input_image === 'string' && /^https?:/i.test(input_image))
          prompt.input_image_url = input_image;
        else if (typeof input_image === 'string' && /^data:/i.test(input_image))
          prompt.input_image_base64 = input_image;
        else {
          prompt.input_image = file(input_image, 'input_image');
          binary = true;
        }
      }
      if (mask_image !== undefined) {
        if (typeof mask_image === 'string' && isRemoteImage(mask_image)) {
          if (/^data:/i.test(mask_image))
            throw new AtelierError('mask_image: give a file, bytes or an http(s) URL');
          prompt.mask_image_url = mask_image;
        } else {
          prompt.mask_image = file(mask_image, 'mask_image');
          binary = true;
        }
      }
      const path = `/tunes/${tuneId}/prompts`;
      return binary
        ? this.request('POST', path, { ...opts, form: { prompt } })
        : this.request('POST', path, { ...opts, json: { prompt } });
    },
    list: (o: PromptListOptions = {}, opts: RequestOptions = {}): Promise<Prompt[]> => {
      const query = { limit: o.limit, offset: o.offset, before_id: o.beforeId, text: o.text };
      return o.tuneId === undefined
        ? this.request('GET', '/prompts', { ...opts, query })
        : this.request('GET', `/tunes/${o.tuneId}/prompts`, { ...opts, query });
    },
    get: (id: number, opts: RequestOptions = {}): Promise<Prompt> =>
      this.request('GET', `/prompts/${id}`, opts),
    /** Deletes the prompt and its images (cancelling it if running); answers the prompt as it was. */
    delete: (id: number, opts: RequestOptions = {}): Promise<Prompt> =>
      this.request('DELETE', `/prompts/${id}`, opts),
    cancel: (id: number, opts: RequestOptions = {}): Promise<Prompt> =>
      this.request('POST', `/prompts/${id}/cancel`, opts),
    /** Waits until the prompt is completed, failed or cancelled. */
    wait: (id: number, opts: WaitOptions = {}): Promise<Prompt> =>
      this.waitFor('prompt', id, opts) as Promise<Prompt>,
  };

  // ---- misc -------------------------------------------------------------------------------------------------

  user(opts: RequestOptions = {}): Promise<User> {
    return this.request('GET', '/users', opts);
  }

  webhookDeliveries(o: { limit?: number; beforeId?: number } = {}): Promise<WebhookDelivery[]> {
    return this.request('GET', '/webhook_deliveries', { query: { limit: o.limit, before_id: o.beforeId } });
  }

  /** (ext) Which controlnet types the server can run, and what its operator must install for the others. */
  conditioning(opts: RequestOptions = {}): Promise<Conditioning> {
    return this.request('GET', '/conditioning', opts);
  }

  /** The server's OpenAPI document. */
  openapi(): Promise<Record<string, unknown>> {
    return this.request('GET', '/openapi.json', {});
  }

  /** Fetches an image by its signed URL. No API key is sent: image URLs work without one (and may be elsewhere). */
  async downloadImage(
    url: string,
    opts: RequestOptions = {},
  ): Promise<{ data: Buffer; contentType: string }> {
    const res = await this.send('GET', url, { signal: this.deadline(opts.signal) });
    if (!res.ok) throw apiError({ status: res.status, method: 'GET', url, body: await readBody(res) });
    return {
      data: Buffer.from(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  // ---- waiting ----------------------------------------------------------------------------------------------

  /**
   * Resolves with the final tune or prompt. Follows `GET /<kind>s/:id/events` when the server has it (events
   * `progress`, then `done` with the final object), otherwise polls `GET /<kind>s/:id`.
   */
  async waitFor(kind: Kind, id: number, opts: WaitOptions = {}): Promise<Tune | Prompt> {
    const timeout = opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs);
    const signals = [opts.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    let lastKey = '';
    let last: unknown;
    const report = (u: ProgressUpdate) => {
      const key = JSON.stringify({ ...u, source: undefined });
      if (key === lastKey) return;
      lastKey = key;
      opts.onProgress?.(u);
    };
    try {
      if (opts.events !== false && !this.noEventStream.has(kind)) {
        const done = await this.followEvents(kind, id, report, signal, (o) => {
          last = o;
        });
        if (done) return done;
      }
      for (;;) {
        const o = (await this.request('GET', `/${kind}s/${id}`, { signal })) as Tune | Prompt;
        last = o;
        report(progressOfObject(o, 'poll'));
        if (isFinal(kind, o)) return o;
        await sleep(opts.pollIntervalMs ?? 1000, signal);
      }
    } catch (e) {
      if (timeout?.aborted && !opts.signal?.aborted)
        throw new AtelierTimeoutError(`${kind} ${id} not finished after ${opts.timeoutMs} ms`, last);
      throw e;
    }
  }

  /** The final object from the event stream, or null when the server has no stream or it ended early. */
  private async followEvents(
    kind: Kind,
    id: number,
    report: (u: ProgressUpdate) => void,
    signal: AbortSignal | undefined,
    seen: (o: unknown) => void,
  ): Promise<Tune | Prompt | null> {
    const path = `/${kind}s/${id}/events`;
    const res = await this.send('GET', this.baseUrl + path, { signal, accept: 'text/event-stream' });
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok) {
      const body = await readBody(res);
      // A missing route (older server) means "poll"; a missing object is the caller's error.
      if (res.status === 404 && (body as { code?: string } | null)?.code !== 'not_found') {
        this.noEventStream.add(kind);
        return null;
      }
      throw apiError({ status: res.status, method: 'GET', url: path, body });
    }
    if (!type.includes('text/event-stream') || !res.body) {
      await res.body?.cancel();
      this.noEventStream.add(kind);
      return null;
    }
    for await (const ev of readEvents(res.body)) {
      let data: unknown;
      try {
        data = JSON.parse(ev.data);
      } catch {
        continue; // not ours to interpret
      }
      const o = unwrap(kind, data);
      if (ev.event === 'deleted')
        throw apiError({
          status: 404,
          method: 'GET',
          url: path,
          body: { error: `${kind} ${id} was deleted while waiting`, code: 'not_found' },
        });
      if (typeof o.status !== 'string') continue;
      seen(o);
      report(ev.event === 'done' ? progressOfObject(o, 'events') : progressOfEvent(o));
      if (ev.event === 'done') return o as unknown as Tune | Prompt;
    }
    // The stream ended without `done` (a proxy cut it, or a server that only sends progress): polling takes over
    // and its first GET sees a final state at once.
    return null;
  }

  // ---- transport --------------------------------------------------------------------------------------------

  private deadline(signal?: AbortSignal): AbortSignal {
    const t = AbortSignal.timeout(this.timeoutMs);
    return signal ? AbortSignal.any([signal, t]) : t;
  }

  private async send(
    method: string,
    url: string,
    init: { signal?: AbortSignal; accept?: string; body?: BodyInit; headers?: Record<string, string> },
  ): Promise<Response> {
    const isApi = url.startsWith(`${this.baseUrl}/`);
    try {
      return await this.fetchImpl(url, {
        method,
        body: init.body,
        signal: init.signal,
        headers: {
          accept: init.accept ?? 'application/json',
          'user-agent': this.userAgent,
          ...(isApi && !isPublicImage(url, this.baseUrl) && { authorization: `Bearer ${this.apiKey}` }),
          ...init.headers,
        },
      });
    } catch (e) {
      if (init.signal?.aborted) throw init.signal.reason ?? e;
      throw new AtelierNetworkError(`${method} ${url}: ${(e as Error).message}`, e);
    }
  }

  /** One API call: JSON or multipart body, query string, typed errors. */
  async request<T>(
    method: string,
    path: string,
    opts: RequestOptions & { query?: Query; json?: unknown; form?: Record<string, unknown> },
  ): Promise<T> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined && v !== '') q.set(k, String(v));
    const url = `${this.baseUrl}${path}${q.size ? `?${q}` : ''}`;
    const headers: Record<string, string> = {};
    let body: BodyInit | undefined;
    if (opts.form) body = await toFormData(opts.form);
    else if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    if (opts.idempotencyKey && method === 'POST') headers['idempotency-key'] = opts.idempotencyKey;
    const signal = this.deadline(opts.signal);
    let res: Response;
    try {
      res = await this.send(method, url, { signal, body, headers });
    } catch (e) {
      if (signal.aborted && !opts.signal?.aborted)
        throw new AtelierTimeoutError(`${method} ${path}: no answer within ${this.timeoutMs} ms`);
      throw e;
    }
    const parsed = await readBody(res);
    if (!res.ok) {
      const ra = Number(res.headers.get('retry-after'));
      throw apiError({
        status: res.status,
        method,
        url: path,
        body: parsed,
        ...(Number.isFinite(ra) && ra > 0 && { retryAfter: ra }),
      });
    }
    return parsed as T;
  }
}

/** Signed image paths need no key, and the key should not travel with URLs handed around to other tools. */
function isPublicImage(url: string, base: string): boolean {
  return /^\/(images|tune-images)\//.test(url.slice(base.length));
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Event payloads may be the object or wrap it as {"prompt": …} / {"tune": …}. */
function unwrap(kind: Kind, data: unknown): Record<string, unknown> {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const inner = o[kind];
  return inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : o;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function progressOfEvent(o: Record<string, unknown>): ProgressUpdate {
  return {
    status: String(o.status),
    progress: num(o.progress) ?? 0,
    phase: typeof o.phase === 'string' ? o.phase : null,
    step: num(o.step) ?? num(o.progress_step),
    total: num(o.total) ?? num(o.progress_total),
    queuePosition: num(o.queue_position),
    source: 'events',
  };
}

function progressOfObject(o: object, source: ProgressUpdate['source']): ProgressUpdate {
  const r = o as Record<string, unknown>;
  return {
    status: String(r.status ?? (r.trained_at ? 'done' : 'pending')),
    progress: num(r.progress) ?? (r.trained_at ? 1 : 0),
    phase: typeof r.phase === 'string' ? r.phase : null,
    step: num(r.progress_step),
    total: num(r.progress_total),
    queuePosition: num(r.queue_position),
    source,
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
