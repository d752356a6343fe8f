// Status lifecycles of tunes and prompts, and the Astria timestamps each transition sets.
//   tune:   queued ─▶ training ─▶ trained          (started_training_at, then trained_at)
//              └──────────┴─────▶ failed           (failed_at, user_error)
//   prompt: queued ─▶ processing ─▶ completed      (started_training_at, then trained_at — Astria's names)
//              │          ├───────▶ failed         (trained_at, user_error)
//              └──────────┴───────▶ cancelled      (trained_at)
// Every prompt write that moves the status is conditional on the row still being live (store/prompts.ts
// transitionPrompt), so a cancelled or finished prompt is never revived by a late worker.
import type { PromptStatus } from '../store/schema.ts';

export const LIVE_PROMPT_STATUSES: PromptStatus[] = ['queued', 'processing'];

export const isPromptFinal = (s: PromptStatus) => !LIVE_PROMPT_STATUSES.includes(s);
