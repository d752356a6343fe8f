// Prompt text rules: trigger words, <lora:ID:weight> / <faceid:ID:weight> tags, {{characteristics}} (API.md §3,
// CLIENTS.md item 24).

export interface TuneTag {
  kind: 'lora' | 'faceid';
  tuneId: number;
  weight: number;
}

const TAG = /<(lora|faceid):(\d+)(?::(-?\d*\.?\d+))?>/gi;

export function parseTuneTags(text: string): TuneTag[] {
  return [...text.matchAll(TAG)].map((m) => ({
    kind: m[1].toLowerCase() as TuneTag['kind'],
    tuneId: Number(m[2]),
    weight: m[3] === undefined ? 1 : Number(m[3]),
  }));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function containsWord(text: string, word: string): boolean {
  return new RegExp(`(^|[^\\p{L}\\p{N}_])${escapeRegExp(word)}($|[^\\p{L}\\p{N}_])`, 'iu').test(text);
}

export interface TriggerTune {
  id: number;
  token: string;
  name: string;
  isBaseModel: boolean;
}

/**
 * The text must use the tune it is posted to: its trigger word, or a tag naming it. Base models need neither.
 * Returns the error message, or null when the text is fine.
 */
export function triggerWordError(text: string, tune: TriggerTune): string | null {
  if (tune.isBaseModel) return null;
  if (parseTuneTags(text).some((t) => t.tuneId === tune.id)) return null;
  if (containsWord(text, tune.token)) return null;
  return `must contain the trigger word "${tune.token}" (e.g. "${tune.token} ${tune.name}") or a <lora:${tune.id}:1> tag`;
}

/** Replace {{key}} with the tune's characteristics; unknown keys are left as written for the generator. */
export function fillCharacteristics(text: string, characteristics: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (whole, key: string) =>
    Object.hasOwn(characteristics, key) ? characteristics[key] : whole,
  );
}
