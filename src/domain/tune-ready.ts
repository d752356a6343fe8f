// What happens when a tune becomes ready (its training job ends, or a LoRA import is checked): prompts that waited
// for it run, its prompts_attributes become prompts, and its callback is queued.
import * as promptsSql from '../store/prompts.ts';
import type { Tune } from '../store/schema.ts';
import { enqueueTuneCallback } from './callbacks.ts';
import { type Actor, JOB_PROMPT, type Services } from './context.ts';
import { checkGeneration } from './generation.ts';
import { insertAndSchedule } from './prompts.ts';

export async function tuneReady(svc: Services, tune: Tune): Promise<void> {
  const actor: Actor = { accountId: tune.account_id!, presentation: tune.presentation };
  const args = JSON.parse(tune.args) as { prompts_attributes?: Record<string, unknown>[] };
  for (const waiting of await promptsSql.listWaitingPrompts(svc.db, tune.id))
    await svc.queue.enqueue({ type: JOB_PROMPT, accountId: waiting.account_id, subjectId: waiting.id });
  for (const attrs of args.prompts_attributes ?? []) {
    const check = checkGeneration(svc.engines, tune.branch, attrs, {
      id: tune.id,
      modelType: tune.model_type,
    });
    await insertAndSchedule(svc, actor, tune, attrs, 'notes' in check ? check.notes : []);
  }
  await enqueueTuneCallback(svc, tune);
}
