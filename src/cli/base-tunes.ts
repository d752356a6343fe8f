// `atelier base-tunes add <id> --title T [--branch B] [--name N]` and `atelier base-tunes list`.

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalBlobStore } from '../blobs/local-blob-store.ts';
import { type Config, databaseTarget } from '../config.ts';
import { addBaseTune } from '../domain/base-tunes.ts';
import { openDatabase } from '../store/db.ts';
import { consoleLogger, installedEngines } from './runtime.ts';

export async function baseTunesCommand(config: Config, argv: string[], out = console.log): Promise<number> {
  const [sub, ...rest] = argv;
  const db = await openDatabase(databaseTarget(config));
  try {
    if (sub === 'add') {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { title: { type: 'string' }, branch: { type: 'string' }, name: { type: 'string' } },
      });
      const id = positionals[0] === undefined ? undefined : Number(positionals[0]);
      if ((id !== undefined && !Number.isSafeInteger(id)) || !values.title) {
        out('usage: atelier base-tunes add [ID] --title TITLE [--branch BRANCH] [--name NAME]');
        return 1;
      }
      const blobs = new LocalBlobStore(join(config.dataDir, 'blobs'));
      const engines = await installedEngines(config, { db, blobs }, consoleLogger('warn'));
      const branch = values.branch ?? config.defaultBranch ?? 'fast';
      const t = await addBaseTune({ db, engines }, { id, title: values.title, name: values.name, branch });
      out(`base tune ${t.id} "${t.title}" (branch ${t.branch}) is visible to every account`);
      return 0;
    }
    if (sub === 'list') {
      const rows = await db
        .selectFrom('tunes')
        .selectAll()
        .where('account_id', 'is', null)
        .orderBy('id')
        .execute();
      for (const r of rows) out(`${r.id}\t${r.branch}\t${r.title}`);
      return 0;
    }
    out('usage: atelier base-tunes add [ID] --title TITLE [--branch BRANCH] [--name NAME] | list');
    return 1;
  } finally {
    await db.destroy();
  }
}
