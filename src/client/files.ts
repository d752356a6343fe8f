// File inputs for uploads: a path on disk, bytes, or a Blob, turned into a named Blob for FormData (Node 20 has
// global FormData/Blob). The server sniffs the format from the bytes, so the content type is only a courtesy.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';

export type FileData = Uint8Array | ArrayBuffer | Blob;
/** A path, raw bytes, a Blob, or any of those with an explicit file name / content type. */
export type FileSource = string | FileData | { path: string; filename?: string; type?: string } | NamedData;
export interface NamedData {
  data: FileData;
  filename?: string;
  type?: string;
}

const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
};

/** A URL or a base64 data URL: sent as text, not read from disk. */
export function isRemoteImage(s: string): boolean {
  return /^(https?:\/\/|data:)/i.test(s);
}

function toBlob(data: FileData, type: string | undefined): Blob {
  if (data instanceof Blob) return type && !data.type ? new Blob([data], { type }) : data;
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  // Copy into a fresh ArrayBuffer-backed view: Buffers may be slices of a shared pool.
  return new Blob([new Uint8Array(bytes)], type ? { type } : {});
}

export async function toNamedBlob(
  src: FileSource,
  fallbackName: string,
): Promise<{ blob: Blob; filename: string }> {
  if (typeof src === 'string') src = { path: src };
  if ('path' in src && typeof src.path === 'string') {
    const data = await readFile(src.path);
    const type = src.type ?? TYPES[extname(src.path).toLowerCase()];
    return { blob: toBlob(data, type), filename: src.filename ?? basename(src.path) };
  }
  if (src instanceof Blob || src instanceof Uint8Array || src instanceof ArrayBuffer)
    return { blob: toBlob(src, undefined), filename: fallbackName };
  const named = src as NamedData;
  return { blob: toBlob(named.data, named.type), filename: named.filename ?? fallbackName };
}

/** True when the value is a binary source that needs multipart (strings that are URLs/data URLs do not). */
export function isBinarySource(v: unknown): boolean {
  if (typeof v === 'string') return !isRemoteImage(v);
  return (
    v instanceof Blob || v instanceof Uint8Array || v instanceof ArrayBuffer || (!!v && typeof v === 'object')
  );
}
