// Upload limits of this server, written into the index page by the server plugin from its configuration
// (<meta name="atelier-limits">), so the client-side checks use the same numbers as the server's.
import type { UploadLimits } from './upload/checks.ts';

export function serverLimits(): UploadLimits {
  const raw = document.querySelector<HTMLMetaElement>('meta[name="atelier-limits"]')?.content;
  if (!raw) throw new Error('the index page carries no upload limits (served without the dashboard plugin?)');
  const parsed = JSON.parse(raw) as Partial<UploadLimits>;
  if (typeof parsed.maxFileBytes !== 'number' || typeof parsed.maxFiles !== 'number') {
    throw new Error('malformed atelier-limits meta tag');
  }
  return { maxFileBytes: parsed.maxFileBytes, maxFiles: parsed.maxFiles };
}
