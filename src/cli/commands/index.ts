// Dispatch table of the API client commands (`atelier tunes …`, `atelier prompts …`). Each module exports
// `run(argv): Promise<number>` (the exit code) and is imported only when its command runs.
import { type CliIO, EXIT_USAGE, processIO } from './io.ts';

export interface CommandEntry {
  usage: string;
  summary: string;
  load: () => Promise<{ run(argv: string[], io?: CliIO): Promise<number> }>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  tunes: {
    usage: 'tunes create|list|show|delete',
    summary: 'fine-tunes: train from photos, list, inspect, delete',
    load: () => import('./tunes.ts'),
  },
  prompts: {
    usage: 'prompts create|list|show|wait|cancel|delete',
    summary: 'generate images, follow progress, download (--out DIR)',
    load: () => import('./prompts.ts'),
  },
};

/** Usage lines for the main `atelier` help, in its two-column layout. */
export const COMMANDS_USAGE = Object.values(COMMANDS)
  .map((c) =>
    c.usage.length < 38
      ? `  ${c.usage.padEnd(39)}${c.summary}`
      : `  ${c.usage}\n${' '.repeat(41)}${c.summary}`,
  )
  .join('\n');

export function hasCommand(name: string | undefined): boolean {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

export async function runCommand(name: string, argv: string[], io: CliIO = processIO()): Promise<number> {
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.stderr.write(`unknown command: ${name}\n`);
    return EXIT_USAGE;
  }
  return (await entry.load()).run(argv, io);
}
