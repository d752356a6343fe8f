// Typed errors of the client. Every non-2xx answer becomes an AtelierApiError carrying the API's error body
// (API.md §5: `{error, errors?, code, request_id}`); a 422 becomes an AtelierValidationError whose `fields` map
// each request field to its messages, ready to show next to a form input.
import type { ErrorJson } from '../openapi/responses.ts';

export type FieldErrors = Record<string, string[]>;

/** Base class: network failures, timeouts and API errors all extend it. */
export class AtelierError extends Error {
  override name = 'AtelierError';
}

export class AtelierApiError extends AtelierError {
  override name = 'AtelierApiError';
  readonly status: number;
  /** Stable error code (`not_found`, `validation_failed`, …); undefined when the body was not an API error. */
  readonly code?: string;
  readonly requestId?: string;
  /** Seconds to wait, from a 429's Retry-After header. */
  readonly retryAfter?: number;
  readonly body: unknown;
  readonly method: string;
  readonly url: string;

  constructor(init: { status: number; method: string; url: string; body: unknown; retryAfter?: number }) {
    const b = (init.body && typeof init.body === 'object' ? init.body : {}) as Partial<ErrorJson>;
    super(typeof b.error === 'string' ? b.error : `HTTP ${init.status} from ${init.method} ${init.url}`);
    this.status = init.status;
    this.code = typeof b.code === 'string' ? b.code : undefined;
    this.requestId = typeof b.request_id === 'string' ? b.request_id : undefined;
    this.retryAfter = init.retryAfter;
    this.body = init.body;
    this.method = init.method;
    this.url = init.url;
  }

  /** The request field errors of a 422 (empty otherwise). */
  get fields(): FieldErrors {
    const e = (this.body as { errors?: unknown } | null)?.errors;
    return e && typeof e === 'object' ? (e as FieldErrors) : {};
  }
}

/** A 422: the request was understood but a field is invalid. */
export class AtelierValidationError extends AtelierApiError {
  override name = 'AtelierValidationError';
}

/** The server could not be reached or the connection broke. */
export class AtelierNetworkError extends AtelierError {
  override name = 'AtelierNetworkError';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** `waitFor` ran out of time; `last` is the last state seen. */
export class AtelierTimeoutError extends AtelierError {
  override name = 'AtelierTimeoutError';
  constructor(
    message: string,
    readonly last?: unknown,
  ) {
    super(message);
  }
}

export function apiError(init: ConstructorParameters<typeof AtelierApiError>[0]): AtelierApiError {
  return init.status === 422 ? new AtelierValidationError(init) : new AtelierApiError(init);
}
