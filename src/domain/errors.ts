// The one registry of API errors. docs/errors.md lists the same codes (a unit test compares both ways).
export const ERRORS = {
  malformed_body: { statusCode: 400, message: 'The request body could not be parsed' },
  bad_query: { statusCode: 400, message: 'A query parameter is invalid' },
  offset_too_large: { statusCode: 400, message: 'offset is too large: page with before_id instead' },
  unauthorized: { statusCode: 401, message: 'Missing or invalid API key' },
  not_found: { statusCode: 404, message: 'Not found' },
  route_not_found: { statusCode: 404, message: 'No such route' },
  conflict: { statusCode: 409, message: 'The object is not in a state that allows this' },
  idempotency_key_reused: {
    statusCode: 409,
    message: 'This Idempotency-Key was already used with a different request',
  },
  idempotency_key_in_flight: {
    statusCode: 409,
    message: 'A request with this Idempotency-Key is still running',
  },
  payload_too_large: { statusCode: 413, message: 'The request or one of its files is too large' },
  unsupported_media_type: { statusCode: 415, message: 'Unsupported media type' },
  validation_failed: { statusCode: 422, message: 'Validation failed' },
  images_missing: { statusCode: 422, message: 'Images must contain at least one image' },
  capability_missing: { statusCode: 422, message: 'This server cannot do what the request asks' },
  rate_limited: { statusCode: 429, message: 'Too many requests' },
  internal: { statusCode: 500, message: 'Internal server error' },
  storage_unavailable: {
    statusCode: 503,
    message: 'Storage is busy or full; nothing was written, retry later',
  },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;
export type FieldErrors = Record<string, string[]>;

/** An error meant for the client: its status and message come from the registry unless overridden. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly fields?: FieldErrors;
  constructor(code: ErrorCode, message?: string, fields?: FieldErrors) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.statusCode = ERRORS[code].statusCode;
    this.fields = fields;
  }
}

/** A 422 naming the offending fields; the summary is the first field message. */
export function validationError(fields: FieldErrors, code: ErrorCode = 'validation_failed'): AppError {
  const [field, msgs] = Object.entries(fields)[0] ?? ['', []];
  const summary = msgs[0] ? `${field ? `${field}: ` : ''}${msgs[0]}` : undefined;
  return new AppError(code, summary, fields);
}

export const notFound = (what = 'Not found') => new AppError('not_found', what);
