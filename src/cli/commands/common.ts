// Shared plumbing of the API commands: option parsing (node:util parseArgs, strict), the connection settings
// (--base-url / ATELIER_URL, --key / ATELIER_KEY), error → exit code mapping, and plain-text output helpers.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  AtelierApiError,
  AtelierClient,
  AtelierError,
  AtelierNetworkError,
  AtelierTimeoutError,
  AtelierValidationError,
} from '../../client/index.ts';
import { type CliIO, EXIT_API, EXIT_OK, EXIT_USAGE } from './io.ts';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:3000';

/** A mistake on the command line: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every API command takes. */
export const GLOBAL_OPTIONS = {
  'base-url': { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export const GLOBAL_HELP = `global options:
  --base-url URL   server (default: $ATELIER_URL, else ${DEFAULT_BASE_URL})
  --key KEY        API key (default: $ATELIER_KEY)
  --json           print the API's JSON on stdout (for scripts); messages stay on stderr
  -q, --quiet      no progress output
  -h, --help       this help`;

export function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // parseArgs explains unknown options and missing values well; keep its sentence, drop its error code.
    throw new UsageError((e as Error).message);
  }
}

export interface Globals {
  'base-url'?: string;
  key?: string;
  json?: boolean;
  quiet?: boolean;
}

export function clientFor(values: Globals, io: CliIO): AtelierClient {
  const baseUrl = values['base-url'] ?? io.env.ATELIER_URL ?? DEFAULT_BASE_URL;
  const apiKey = values.key ?? io.env.ATELIER_KEY;
  if (!apiKey) throw new UsageError('no API key: pass --key KEY or set ATELIER_KEY');
  if (!URL.canParse(baseUrl) || !/^https?:/i.test(baseUrl))
    throw new UsageError(`--base-url / ATELIER_URL must be an http(s) URL (got ${baseUrl})`);
  return new AtelierClient({ baseUrl, apiKey, ...(io.fetch && { fetch: io.fetch }) });
}

/** A positive integer id from the command line. */
export function idArg(v: string | undefined, what: string): number {
  if (v === undefined) throw new UsageError(`missing ${what}`);
  if (!/^\d{1,15}$/.test(v)) throw new UsageError(`${what} must be a number (got ${v})`);
  return Number(v);
}

export function intOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number (got ${v})`);
  return Number(v);
}

export function secondsOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a number of seconds (got ${v})`);
  return n * 1000;
}

/** `key=value` pairs (repeatable options such as --characteristic). */
export function pairs(list: string[] | undefined, name: string): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${name} takes KEY=VALUE (got ${item})`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Runs a command body: maps errors to messages on stderr and to exit codes. */
export async function guard(io: CliIO, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    return reportError(io, usage, e);
  }
}

export function reportError(io: CliIO, usage: string, e: unknown): number {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  if (e instanceof UsageError) {
    err(`error: ${e.message}`);
    err(usage.split('\n')[0]);
    err('(--help for details)');
    return EXIT_USAGE;
  }
  if (e instanceof AtelierValidationError) {
    err(`error: ${e.message}`);
    // The summary is usually the first field message: list the fields, minus that repetition.
    for (const [field, msgs] of Object.entries(e.fields))
      for (const m of msgs) if (`${field}: ${m}` !== e.message) err(`  ${field}: ${m}`);
    return EXIT_API;
  }
  if (e instanceof AtelierApiError) {
    const id = e.requestId ? `, request ${e.requestId}` : '';
    err(`error: ${e.message} (HTTP ${e.status}${e.code ? ` ${e.code}` : ''}${id})`);
    if (e.retryAfter) err(`  retry after ${e.retryAfter} s`);
    return EXIT_API;
  }
  if (e instanceof AtelierNetworkError) {
    err(`error: cannot reach the server: ${e.message}`);
    err('  is it running? (atelier serve) — check --base-url / ATELIER_URL');
    return EXIT_API;
  }
  if (e instanceof AtelierTimeoutError || e instanceof AtelierError) {
    err(`error: ${e.message}`);
    return EXIT_API;
  }
  err(`error: ${(e as Error)?.stack ?? String(e)}`);
  return EXIT_API;
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printHelp(io: CliIO, text: string): number {
  io.stdout.write(`${text}\n\n${GLOBAL_HELP}\n`);
  return EXIT_OK;
}

/** `key  value` lines, aligned; null/undefined/empty values skipped. */
export function printFields(io: CliIO, rows: [string, unknown][]): void {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== '');
  const w = Math.max(...shown.map(([k]) => k.length));
  for (const [k, v] of shown)
    io.stdout.write(`${k.padEnd(w)}  ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
}

/** A plain table: a header row, then one row per item; the last column is not padded. */
export function printTable(io: CliIO, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  io.stdout.write(`${line(header)}\n`);
  for (const r of rows) io.stdout.write(`${line(r)}\n`);
}

export function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export type Subcommand = (argv: string[], io: CliIO) => Promise<number>;

/** `atelier <group> <sub> …`: help, a missing or unknown subcommand (usage error), else the subcommand's result. */
export function dispatch(
  group: string,
  table: Record<string, Subcommand>,
  text: { usage: string; help: string },
  argv: string[],
  io: CliIO,
): Promise<number> {
  const [sub, ...rest] = argv;
  return guard(io, text.usage, async () => {
    if (sub === 'help' || sub === '--help' || sub === '-h') return printHelp(io, text.help);
    if (sub === undefined) {
      printHelp(io, text.help);
      return EXIT_USAGE;
    }
    const fn = table[sub];
    if (!fn) throw new UsageError(`unknown subcommand: ${group} ${sub}`);
    return fn(rest, io);
  });
}
