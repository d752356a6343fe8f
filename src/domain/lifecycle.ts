// Status lifecycles of tunes and prompts, and the Astria timestamps each transition sets.
//   tune:   queued ─▶ training ─▶ trained
//              └──────────┴─────▶ failed
//   prompt: queued ─▶ processing ─▶ completed
//              │          ├───────▶ failed
//              └──────────┴───────▶ cancelled
import type { PromptStatus, TuneStatus } from '../store/schema.ts';

export const TUNE_TRANSITIONS: Record<TuneStatus, TuneStatus[]> = {
  queued: ['training', 'failed'],
  training: ['trained', 'failed', 'queued'], // back to queued when a lease expires and the job is retried
  trained: [],
  failed: [],
};

export const PROMPT_TRANSITIONS: Record<PromptStatus, PromptStatus[]> = {
  queued: ['processing', 'failed', 'cancelled'],
  processing: ['completed', 'failed', 'cancelled', 'queued'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function canTransition<S extends string>(table: Record<S, S[]>, from: S, to: S): boolean {
  return table[from].includes(to);
}

export const isPromptFinal = (s: PromptStatus) => PROMPT_TRANSITIONS[s].length === 0;
export const isTuneFinal = (s: TuneStatus) => TUNE_TRANSITIONS[s].length === 0;
