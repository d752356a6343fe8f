// Zod building blocks that read form values the way Astria clients send them: booleans and numbers often arrive
// as strings ("true", "True", "1", "896"), and an empty string means "not given" (CLIENTS.md items 12–13).
import { z } from 'zod';

/** '' and null → undefined, so optional fields treat them as absent. */
export function blankToUndefined(v: unknown): unknown {
  if (v === null || v === '') return undefined;
  if (typeof v === 'string' && v.trim() === '') return undefined;
  return v;
}

const TRUE = new Set(['true', '1', 'yes', 'on', 't']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f']);

export function toBoolean(v: unknown): unknown {
  v = blankToUndefined(v);
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  if (v === 1) return true;
  if (v === 0) return false;
  return v;
}

export function toNumber(v: unknown): unknown {
  v = blankToUndefined(v);
  if (typeof v === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v)) return Number(v);
  return v;
}

export const zBool = (help: string) => z.preprocess(toBoolean, z.boolean().optional()).describe(help);

export const zInt = (min: number, max: number, help: string) =>
  z.preprocess(toNumber, z.number().int().min(min).max(max).optional()).describe(help);

export const zNum = (min: number, max: number, help: string) =>
  z.preprocess(toNumber, z.number().min(min).max(max).optional()).describe(help);

export const zStr = (help: string, max = 10_000) =>
  z.preprocess(blankToUndefined, z.string().max(max).optional()).describe(help);

export const zEnum = <T extends readonly [string, ...string[]]>(values: T, help: string) =>
  z.preprocess(blankToUndefined, z.enum(values).optional()).describe(help);

export const urlString = z
  .string()
  .max(4096)
  .refine((s) => /^https?:\/\//i.test(s) && URL.canParse(s), 'must be an http(s) URL');

/** http(s) URL; the outbound guard checks the host later. */
export const zUrl = (help: string) => z.preprocess(blankToUndefined, urlString.optional()).describe(help);

/** Turn zod issues into API.md's `errors` map: dotted field path → messages. */
export function issuesToFields(issues: readonly z.core.$ZodIssue[], prefix = ''): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const i of issues) {
    const key = prefix + (i.path.length ? i.path.map(String).join('.') : 'body');
    let msg = i.message;
    if (i.code === 'invalid_type' && i.input === undefined) msg = 'is required';
    (out[key] ??= []).push(msg);
  }
  return out;
}
