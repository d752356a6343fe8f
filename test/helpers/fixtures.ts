import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the read-only shared fixtures (`../shared/fixtures` beside the repository). */
export const FIXTURES_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/fixtures');

/** Absolute path of a fixture file; fails with a clear message when the shared folder is missing. */
export function fixturePath(...parts: string[]): string {
  const p = join(FIXTURES_ROOT, ...parts);
  if (!existsSync(p)) {
    throw new Error(
      `fixture ${parts.join('/')} not found at ${p}: the shared fixtures folder must sit at ../shared beside the repository`,
    );
  }
  return p;
}
