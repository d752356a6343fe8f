// Callback events (API.md §4, CLIENTS.md items 30–33): the body is the same JSON the API serves, wrapped by object
// type, snapshotted when the event happens and delivered by the webhook dispatcher (src/jobs/webhooks.ts).
import { randomUUID } from 'node:crypto';
import { presentPrompt } from '../api/presenters/prompt.ts';
import { presentTune } from '../api/presenters/tune.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Prompt, Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { insertDelivery } from '../store/webhooks.ts';
import type { Services } from './context.ts';
import { onPromptFinal } from './packs.ts';

const ctxOf = (svc: Services) => ({ baseUrl: svc.config.publicBaseUrl, signer: svc.signer });

async function enqueue(
  svc: Services,
  accountId: number,
  type: string,
  subjectId: number,
  url: string,
  body: unknown,
) {
  await insertDelivery(svc.db, {
    account_id: accountId,
    event_id: `msg_${randomUUID().replace(/-/g, '')}`, // the Standard Webhooks id, kept across retries
    event_type: type,
    subject_id: subjectId,
    url, // exactly as given: never re-encoded
    body: JSON.stringify(body),
  });
  svc.notifyWebhook();
}

export async function enqueueTuneCallback(svc: Services, tune: Tune): Promise<void> {
  if (!tune.callback || tune.account_id === null) return;
  const images = await tunesSql.listTuneImages(svc.db, tune.id);
  await enqueue(svc, tune.account_id, `tune.${tune.status}`, tune.id, tune.callback, {
    tune: presentTune(tune, images, ctxOf(svc)),
  });
}

export async function enqueuePromptCallback(svc: Services, prompt: Prompt): Promise<void> {
  await onPromptFinal(svc, prompt); // a pack run's prompts_callback, once all its prompts are final
  if (!prompt.callback) return;
  const images = await promptsSql.listImagesFor(svc.db, [prompt.id]);
  // Same shape as the API for the key that created it: URL strings for astria-compat keys (CLIENTS.md item 31).
  await enqueue(svc, prompt.account_id, `prompt.${prompt.status}`, prompt.id, prompt.callback, {
    prompt: presentPrompt(prompt, images, prompt.presentation, ctxOf(svc)),
  });
}
