// `atelier packs load <file|folder>`: load (upsert by slug) gallery packs into the database without restarting the
// server, the same loader that ATELIER_PACKS_FILE runs at start-up (src/domain/packs.ts, docs/packs.md).
import { type Config, databaseTarget } from '../config.ts';
import { loadPacksFile } from '../domain/packs.ts';
import { openDatabase } from '../store/db.ts';

export const PACKS_USAGE = `usage: atelier packs load <FILE|FOLDER>
  Loads gallery packs (visible to every account) from a JSON or YAML file, or from every *.json/*.yaml/*.yml of
  a folder in name order: {"packs": [{"slug": …, "title": …, "prompts": {"man": ["ohwx man …"]}}]} or a bare list.
  Packs are keyed by slug: loading again updates them in place (same ids). An invalid pack stops the load with
  an error naming the file, the pack and the field; packs before it stay loaded. See docs/packs.md.`;

/** Exit codes: 0 loaded or help, 1 the file could not be loaded, 2 usage error. */
export async function packsCommand(
  config: Config,
  argv: string[],
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'help' || argv.includes('--help') || argv.includes('-h')) {
    out(PACKS_USAGE);
    return 0;
  }
  if (sub !== 'load' || rest.length !== 1 || rest[0]!.startsWith('-')) {
    err(sub === 'load' ? 'packs load takes one FILE or FOLDER' : `unknown packs command: ${sub ?? '(none)'}`);
    err(PACKS_USAGE);
    return 2;
  }
  const db = await openDatabase(databaseTarget(config));
  try {
    const slugs = await loadPacksFile(db, rest[0]!);
    out(`loaded ${slugs.length} pack(s) from ${rest[0]}: ${slugs.join(', ')}`);
    return 0;
  } catch (e) {
    err((e as Error).message);
    return 1;
  } finally {
    await db.destroy();
  }
}
