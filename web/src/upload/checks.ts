// Client-side checks on training photos, mirroring the server's (API.md §2, §5): count per model type, format
// sniffed from the bytes (not from the name or the browser's MIME guess), per-file size cap. The server checks
// again; these only spare the user a slow failed upload.

export type SniffedFormat = 'jpeg' | 'png' | 'webp';

/** Magic numbers: JPEG FF D8 FF; PNG 89 50 4E 47 0D 0A 1A 0A; WebP "RIFF" ???? "WEBP". */
export function sniffFormat(head: Uint8Array): SniffedFormat | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (head.length >= 8 && png.every((b, i) => head[i] === b)) return 'png';
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return null;
}

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
}

export interface FileFacts {
  name: string;
  size: number;
  format: SniffedFormat | null;
}

export interface CheckResult {
  /** per-file problems, keyed by index in the input list */
  fileErrors: Map<number, string>;
  /** problems with the set as a whole (count) */
  setErrors: string[];
  ok: boolean;
}

/** Training tunes need 4–20 images; faceid tunes accept 1–20 (API.md §2). */
export function imageCountRange(modelType: string): { min: number; max: number } {
  return modelType === 'faceid' ? { min: 1, max: 20 } : { min: 4, max: 20 };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function checkTrainingImages(
  files: FileFacts[],
  modelType: string,
  limits: UploadLimits,
): CheckResult {
  const fileErrors = new Map<number, string>();
  files.forEach((f, i) => {
    if (f.size === 0) fileErrors.set(i, `${f.name} is empty`);
    else if (f.size > limits.maxFileBytes)
      fileErrors.set(
        i,
        `${f.name} is ${formatBytes(f.size)}, over the ${formatBytes(limits.maxFileBytes)} limit`,
      );
    else if (!f.format) fileErrors.set(i, `${f.name} is not a JPEG, PNG or WebP image`);
  });
  const { min, max: typeMax } = imageCountRange(modelType);
  const max = Math.min(typeMax, limits.maxFiles);
  const setErrors: string[] = [];
  if (files.length < min) setErrors.push(`Add at least ${min} photos (${files.length} so far).`);
  if (files.length > max) setErrors.push(`At most ${max} photos (${files.length} chosen).`);
  return { fileErrors, setErrors, ok: fileErrors.size === 0 && setErrors.length === 0 };
}

/** Reads the first 12 bytes of a browser File and sniffs them. */
export async function sniffFile(file: Blob): Promise<SniffedFormat | null> {
  return sniffFormat(new Uint8Array(await file.slice(0, 12).arrayBuffer()));
}
