// Error formatting (API.md §5): AppError → its registry status and body; Fastify's own 4xx (bad JSON, body too
// large, unsupported media type, multipart limits) keep their status with our body; anything else is logged and
// answered with a generic 500 carrying the request id — never a stack trace.
import type { FastifyError, FastifyInstance } from 'fastify';
import { ImageRejectedError } from '../../blobs/image-intake.ts';
import { AppError, type ErrorCode } from '../../domain/errors.ts';
import { BodyShapeError } from '../body/brackets.ts';
import { globalPlugin } from '../plugin.ts';
import { presentError } from '../presenters/error.ts';

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'malformed_body',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
};

export function toAppError(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  if (err instanceof BodyShapeError) return new AppError('malformed_body', err.message);
  if (err instanceof ImageRejectedError) return new AppError(BY_STATUS[err.status], err.message);
  if (isStorageUnavailable(err)) return new AppError('storage_unavailable');
  const fe = err as FastifyError;
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 0;
  if (status >= 400 && status < 500 && BY_STATUS[status]) {
    const message = fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'The JSON body is empty' : fe.message;
    return new AppError(BY_STATUS[status], message);
  }
  return null;
}

/** The database locked by another process, or the disk full: the client may retry, no 500 (see docs/errors.md). */
const STORAGE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'ENOSPC', 'EDQUOT']);
function isStorageUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && STORAGE_CODES.has(code);
}

export const errorsPlugin = globalPlugin(async (app: FastifyInstance) => {
  app.setErrorHandler((err, req, reply) => {
    const known = toAppError(err);
    if (known?.code === 'storage_unavailable') req.log.error({ err }, 'storage unavailable');
    if (known?.code === 'storage_unavailable') reply.header('retry-after', '5');
    if (known) return reply.code(known.statusCode).send(presentError(known, req.id));
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(presentError(new AppError('internal'), req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send(presentError(new AppError('route_not_found', `No route for ${req.method} ${req.url}`), req.id));
  });
});
