// File storage seam: the local directory is the embedded default; an S3-compatible store implements the same four
// methods. Keys are relative, slash-separated paths such as `tunes/7/images/0.jpg`.
export interface BlobStore {
  put(key: string, data: Buffer): Promise<void>;
  /** undefined when absent */
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** Delete every key under `prefix/`. */
  deletePrefix(prefix: string): Promise<void>;
}

export function assertSafeKey(key: string): void {
  if (
    !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(key) ||
    key.split('/').some((p) => p === '..' || p === '.')
  )
    throw new Error(`unsafe blob key: ${key}`);
}
