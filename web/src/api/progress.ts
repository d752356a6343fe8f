// Reads progress out of the API's event streams and objects. Events carry JSON; the fields read here are the
// status/progress extension of API.md §2–§3 (`status`, `progress` 0–1) plus per-step detail when present
// (the prompt object's `progress_step`, `progress_total`, `phase`; `queue_position` if the server offers it).
import type { SseEvent } from './sse.ts';

export interface ProgressUpdate {
  status?: string;
  /** 0–1 */
  progress?: number;
  step?: number;
  steps?: number;
  phase?: string;
  queuePosition?: number;
  error?: string;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Accepts a flat event (`{status, progress, step, steps}`) or one wrapping the object (`{prompt: {...}}`). */
export function parseProgress(ev: SseEvent): ProgressUpdate | null {
  let data: unknown;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return null;
  }
  if (!data || typeof data !== 'object') return null;
  return progressOf(data as Record<string, unknown>, ev.event !== 'message' ? ev.event : undefined);
}

/** Progress of an event payload or of a prompt/tune object as the API returns it. */
export function progressOf(data: Record<string, unknown>, eventName?: string): ProgressUpdate {
  let o = data;
  for (const wrapper of ['prompt', 'tune']) {
    const inner = o[wrapper];
    if (inner && typeof inner === 'object') o = { ...(inner as Record<string, unknown>), ...o };
  }
  const p = (o.progress && typeof o.progress === 'object' ? o.progress : {}) as Record<string, unknown>;
  const step = num(o.progress_step) ?? num(o.step) ?? num(p.step);
  // `steps` alone is the prompt's diffusion-steps parameter; next to `step` it is the total of the current phase.
  const steps =
    num(o.progress_total) ??
    num(o.steps_total) ??
    num(o.total_steps) ??
    num(p.steps) ??
    num(p.total) ??
    num(o.total) ??
    (step !== undefined ? num(o.steps) : undefined);
  let progress = num(o.progress) ?? num(p.fraction) ?? num(p.progress);
  if (progress === undefined && step !== undefined && steps) progress = step / steps;
  return {
    status: str(o.status) ?? eventName,
    progress,
    step,
    steps,
    phase: str(o.phase) ?? str(p.phase),
    queuePosition: num(o.queue_position) ?? num(o.position),
    error: str(o.user_error) ?? str(o.error),
  };
}

/** A one-line human description: "Step 12 of 30 · denoise", "Queued (position 3)". */
export function describeProgress(u: ProgressUpdate): string {
  const parts: string[] = [];
  if (u.status === 'queued' && u.queuePosition !== undefined)
    parts.push(`Queued (position ${u.queuePosition})`);
  else if (u.status) parts.push(u.status.charAt(0).toUpperCase() + u.status.slice(1));
  if (u.step !== undefined && u.steps !== undefined) parts.push(`step ${u.step} of ${u.steps}`);
  // Nothing has started while queued: "0%" would only be noise next to the position.
  else if (u.progress !== undefined && u.status !== 'queued') parts.push(`${Math.round(u.progress * 100)}%`);
  if (u.phase) parts.push(u.phase);
  return parts.join(' · ');
}
