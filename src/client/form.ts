// Rails-style form encoding (API.md §1): `{prompt: {text, num_images}}` → `prompt[text]`, `prompt[num_images]`;
// arrays of scalars → `tune[image_urls][]`; arrays of objects → `tune[prompts_attributes][][text]`, with `text`
// first because the server starts a new element at each `text` key (CLIENTS.md item 10); nested objects →
// `tune[characteristics][eye_color]`. Files go in as named Blobs.
import { type FileSource, toNamedBlob } from './files.ts';

/** A value to encode: scalars, nested objects/arrays, or a file marked with `file()`. */
export class FilePart {
  constructor(
    readonly source: FileSource,
    readonly fallbackName: string,
  ) {}
}

export function file(source: FileSource, fallbackName = 'upload'): FilePart {
  return new FilePart(source, fallbackName);
}

type Entry = [string, string | FilePart];

export function flatten(name: string, value: unknown, out: Entry[] = []): Entry[] {
  if (value === undefined || value === null) return out;
  if (value instanceof FilePart) out.push([name, value]);
  else if (Array.isArray(value)) {
    for (const item of value) {
      if (item && typeof item === 'object' && !(item instanceof FilePart)) {
        const obj = item as Record<string, unknown>;
        const keys = Object.keys(obj).sort((a, b) => (a === 'text' ? -1 : b === 'text' ? 1 : 0));
        for (const k of keys) flatten(`${name}[][${k}]`, obj[k], out);
      } else flatten(`${name}[]`, item, out);
    }
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(`${name}[${k}]`, v, out);
  } else out.push([name, String(value)]);
  return out;
}

export async function toFormData(root: Record<string, unknown>): Promise<FormData> {
  const fd = new FormData();
  const entries: Entry[] = [];
  for (const [k, v] of Object.entries(root)) flatten(k, v, entries);
  for (const [name, v] of entries) {
    if (v instanceof FilePart) {
      const { blob, filename } = await toNamedBlob(v.source, v.fallbackName);
      fd.append(name, blob, filename);
    } else fd.append(name, v);
  }
  return fd;
}
