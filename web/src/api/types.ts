// JSON shapes of the Atelier API as documented in shared/docs/API.md §2–§3. Only the fields the dashboard reads
// are typed; the API may send more.

export type TuneStatus = 'queued' | 'training' | 'trained' | 'failed';
export type PromptStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

export interface Tune {
  id: number;
  title: string;
  name: string;
  token: string | null;
  branch: string | null;
  model_type: string | null;
  orig_images: string[];
  trained_at: string | null;
  failed_at?: string | null;
  created_at: string;
  status?: TuneStatus;
  progress?: number | null;
  /** (ext) place of its training job in the queue while queued, 1 = next */
  queue_position?: number | null;
  user_error?: string | null;
  url: string;
}

/** One `controlnet` type's status on this server (`GET /conditioning`, ext). */
export interface ConditioningStatus {
  type: string;
  kind: string;
  available: boolean;
  preprocessor: string;
  /** why it is unavailable */
  reason?: string;
  /** what the operator must install for it */
  install?: string;
}

/** `images` is `[{id, url}]`, or plain URL strings for keys in astria-compat mode (API.md §3). */
export type PromptImage = { id: number; url: string } | string;

export interface Prompt {
  id: number;
  tune_id: number;
  text: string;
  negative_prompt: string | null;
  seed: number | null;
  steps: number | null;
  cfg_scale: number | null;
  scheduler: string | null;
  num_images: number | null;
  w: number | null;
  h: number | null;
  status?: PromptStatus;
  progress?: number | null;
  /** (ext) place in the job queue while queued, 1 = next */
  queue_position?: number | null;
  user_error: string | null;
  images: PromptImage[];
  created_at: string;
  trained_at: string | null;
  [param: string]: unknown;
}

export function imageUrl(img: PromptImage): string {
  return typeof img === 'string' ? img : img.url;
}

/** Astria marks readiness with timestamps; Atelier adds `status`. Use either. */
export function tuneState(t: Tune): TuneStatus {
  if (t.status) return t.status;
  if (t.failed_at) return 'failed';
  return t.trained_at ? 'trained' : 'queued';
}

export function promptState(p: Prompt): PromptStatus {
  if (p.status) return p.status;
  if (p.user_error) return 'failed';
  return p.trained_at ? 'completed' : 'queued';
}

export const TERMINAL_PROMPT_STATES: readonly PromptStatus[] = ['completed', 'failed', 'cancelled'];
export const TERMINAL_TUNE_STATES: readonly TuneStatus[] = ['trained', 'failed'];
