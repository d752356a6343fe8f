// AppError → API.md §5 error body.
import type { AppError } from '../../domain/errors.ts';

export function presentError(e: AppError, requestId: string) {
  return {
    error: e.message,
    ...(e.fields && { errors: e.fields }),
    code: e.code,
    request_id: requestId,
  };
}
