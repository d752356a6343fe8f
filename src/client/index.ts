// `atelier/client`: the typed client of the Atelier (Astria-compatible) API.
//   import { AtelierClient } from 'atelier/client';
//   const client = new AtelierClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: process.env.ATELIER_KEY! });
//   const prompt = await client.prompts.create(tune.id, { text: 'ohwx man, studio light', num_images: 2 });
//   const done = await client.prompts.wait(prompt.id, { onProgress: (u) => console.log(u.status, u.progress) });
export {
  AtelierClient,
  type ClientOptions,
  isFinal,
  type Kind,
  promptImageUrls,
  type RequestOptions,
  type WaitOptions,
} from './client.ts';
export {
  AtelierApiError,
  AtelierError,
  AtelierNetworkError,
  AtelierTimeoutError,
  AtelierValidationError,
  type FieldErrors,
} from './errors.ts';
export type { FileSource, NamedData } from './files.ts';
export type * from './types.ts';
export {
  AtelierWebhookError,
  parseWebhook,
  type VerifyOptions,
  verifyWebhook,
  type WebhookEvent,
  type WebhookHeaders,
} from './webhooks.ts';
