// Download one image for a job (image_urls, input_image_url, mask_image_url) through the guarded fetcher and the
// shared image intake. A refused target, a non-2xx answer or a bad image is permanent (the user's input is wrong);
// a network error is transient and the job is retried.
import { ImageRejectedError, type NormalizedImage, normalizeImage } from '../blobs/image-intake.ts';
import type { Services } from '../domain/context.ts';
import { OutboundBlockedError } from '../net/guarded-fetch.ts';
import { PermanentJobError } from './queue.ts';

export async function fetchImage(svc: Services, url: string, what: string): Promise<NormalizedImage> {
  let body: Buffer;
  try {
    const res = await svc.outbound.fetch(url, { method: 'GET' });
    if (res.status < 200 || res.status >= 300)
      throw new PermanentJobError(`${what} could not be downloaded: HTTP ${res.status}`);
    body = res.body;
  } catch (e) {
    if (e instanceof PermanentJobError) throw e;
    if (e instanceof OutboundBlockedError) throw new PermanentJobError(`${what} was refused: ${e.message}`);
    throw new Error(`${what} could not be downloaded: ${(e as Error).message}`);
  }
  try {
    return await normalizeImage(body, {
      maxBytes: svc.config.uploadMaxFileBytes,
      maxPixels: svc.config.imageMaxPixels,
    });
  } catch (e) {
    if (e instanceof ImageRejectedError) throw new PermanentJobError(`${what} was refused: ${e.message}`);
    throw e;
  }
}
