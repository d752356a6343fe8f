// Body parsing for the three encodings (API.md §1, CLIENTS.md items 8–14). JSON uses Fastify's parser;
// form-urlencoded and multipart are read as (name, value) pairs and nested Rails-style by nestFields. Multipart
// files are buffered under per-file, file-count and whole-body caps; a part over a cap is a 413. A LoRA file part
// (`lora_file`, `tune[lora_file]`) has its own per-file cap, since LoRAs are larger than photos.
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import { type FormValue, nestFields } from '../body/brackets.ts';
import { globalPlugin } from '../plugin.ts';

export interface BodyLimits {
  maxFileBytes: number;
  /** per-file cap of a LoRA upload (LORA_FILE_FIELD parts) */
  maxLoraFileBytes: number;
  maxFiles: number;
  maxBodyBytes: number;
}

/** A multipart part carrying a LoRA file: `lora_file` or `tune[lora_file]`. */
export const isLoraFileField = (field: string): boolean => /^(tune\[lora_file\]|lora_file)$/.test(field);

export const bodyPlugin = globalPlugin(async (app: FastifyInstance, limits: BodyLimits) => {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: limits.maxBodyBytes },
    (_req, body, done) => {
      try {
        done(null, nestFields(new URLSearchParams(body as string).entries()));
      } catch (e) {
        done(e as Error);
      }
    },
  );

  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: {
      // the larger of the two per-file caps; readCapped applies the one of each part
      fileSize: Math.max(limits.maxFileBytes, limits.maxLoraFileBytes),
      files: limits.maxFiles,
      fields: 1000,
      parts: 1100,
      fieldSize: 1024 * 1024,
    },
  });

  app.addHook('preValidation', async (req) => {
    if (!req.isMultipart()) return;
    const entries: [string, FormValue][] = [];
    let total = 0;
    try {
      await readParts();
    } catch (e) {
      // busboy's framing errors (no/empty boundary, unterminated body) are plain Errors: the client's fault, a 400.
      // Our own AppErrors and Fastify's 4xx (part/file limits) keep their status.
      if (e instanceof AppError || isClientError(e)) throw e;
      throw new AppError('malformed_body', `the multipart body could not be parsed: ${(e as Error).message}`);
    }
    (req as { body: unknown }).body = nestFields(entries);

    async function readParts() {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          const cap = isLoraFileField(part.fieldname) ? limits.maxLoraFileBytes : limits.maxFileBytes;
          const data = await readCapped(part.file, cap, part.fieldname);
          total += data.length;
          if (total > limits.maxBodyBytes)
            throw new AppError('payload_too_large', 'the request body is too large');
          entries.push([
            part.fieldname,
            {
              kind: 'file',
              field: part.fieldname,
              filename: part.filename,
              contentType: part.mimetype,
              data,
            },
          ]);
        } else {
          if (part.valueTruncated)
            throw new AppError('payload_too_large', `field ${part.fieldname} is too large`);
          entries.push([part.fieldname, String(part.value ?? '')]);
        }
      }
    }
  });
});

async function readCapped(stream: AsyncIterable<Buffer>, cap: number, field: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    if (n > cap) throw new AppError('payload_too_large', `file ${field} is larger than ${cap} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

function isClientError(e: unknown): boolean {
  const status = (e as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** Astria wraps the object (`{"tune": {...}}`, `prompt[text]=…`); some clients send it flat. */
export function unwrap(body: unknown, key: string): Record<string, unknown> {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const inner = b[key];
  if (inner && typeof inner === 'object' && !Array.isArray(inner))
    return { ...(inner as Record<string, unknown>) };
  return { ...b };
}
