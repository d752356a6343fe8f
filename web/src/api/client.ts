// The dashboard's only way to reach the server: the public HTTP API of API.md, called with the signed-in key.
// The page has no privileged access — it sees exactly what the key's account sees.
import { readEventStream, type SseEvent } from './sse.ts';
import type { ConditioningStatus, Prompt, Tune } from './types.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** per-field messages of a 422 (`errors` in API.md §5) */
    readonly fieldErrors: Record<string, string[]> = {},
  ) {
    super(message);
  }
}

export interface Page {
  /** 1–120 (API.md §5); default 30 */
  limit?: number;
  beforeId?: number;
}

function pageQuery(page: Page): URLSearchParams {
  const q = new URLSearchParams({ limit: String(page.limit ?? 30) });
  if (page.beforeId !== undefined) q.set('before_id', String(page.beforeId));
  return q;
}

export class AtelierClient {
  constructor(
    private readonly key: string,
    /** called when the server stops accepting the key (revoked while the page is open) */
    private readonly onUnauthorized: () => void = () => {},
    private readonly base = '',
  ) {}

  private async request<T>(method: string, path: string, body?: BodyInit): Promise<T> {
    const res = await fetch(this.base + path, {
      method,
      body,
      headers: { authorization: `Bearer ${this.key}`, accept: 'application/json' },
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: report the status line below
    }
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) {
      const err = (json ?? {}) as { error?: string; message?: string; errors?: Record<string, string[]> };
      throw new ApiError(
        res.status,
        err.error ?? err.message ?? `${res.status} ${res.statusText}`,
        err.errors,
      );
    }
    return json as T;
  }

  /** Newest first; `beforeId` continues after the last item of the previous page (keyset cursor, API.md §5). */
  listTunes(page: Page = {}): Promise<Tune[]> {
    return this.request('GET', `/tunes?${pageQuery(page)}`);
  }
  getTune(id: number): Promise<Tune> {
    return this.request('GET', `/tunes/${id}`);
  }
  /** multipart with Rails-style names (`tune[title]`, `tune[images][]`), see `buildTuneForm`. */
  createTune(form: FormData): Promise<Tune> {
    return this.request('POST', '/tunes', form);
  }
  deleteTune(id: number): Promise<unknown> {
    return this.request('DELETE', `/tunes/${id}`);
  }

  listPrompts(page: Page & { tuneId?: number } = {}): Promise<Prompt[]> {
    const q = pageQuery(page);
    if (page.tuneId !== undefined) q.set('tune_id', String(page.tuneId));
    return this.request('GET', `/prompts?${q}`);
  }
  getPrompt(id: number): Promise<Prompt> {
    return this.request('GET', `/prompts/${id}`);
  }
  createPrompt(tuneId: number, form: FormData): Promise<Prompt> {
    return this.request('POST', `/tunes/${tuneId}/prompts`, form);
  }
  deletePrompt(id: number): Promise<unknown> {
    return this.request('DELETE', `/prompts/${id}`);
  }
  cancelPrompt(id: number): Promise<unknown> {
    return this.request('POST', `/prompts/${id}/cancel`);
  }

  /** Which `controlnet` types this server can run, and what to install for the others (ext). */
  async conditioning(): Promise<ConditioningStatus[]> {
    const body = await this.request<{ conditioning?: ConditioningStatus[] }>('GET', '/conditioning');
    return Array.isArray(body.conditioning) ? body.conditioning : [];
  }

  /**
   * Follows an event stream (`/prompts/:id/events`, API.md §3). Resolves when the server ends the stream or
   * `signal` aborts; rejects with ApiError(404) when the server has no such stream.
   */
  async follow(path: string, onEvent: (ev: SseEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(this.base + path, {
      headers: { authorization: `Bearer ${this.key}`, accept: 'text/event-stream' },
      signal,
    });
    if (!res.ok || !res.body) throw new ApiError(res.status, `event stream ${path}: ${res.status}`);
    if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await res.body.cancel();
      throw new ApiError(415, `event stream ${path}: not text/event-stream`);
    }
    await readEventStream(res.body, onEvent, signal).catch((e: unknown) => {
      if (!signal.aborted) throw e;
    });
  }
}

/** Checks a key against the API (any authenticated route answers 401 for a bad key). */
export async function verifyKey(key: string): Promise<boolean> {
  try {
    await new AtelierClient(key).listTunes({ limit: 1 });
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return false;
    throw e;
  }
}
