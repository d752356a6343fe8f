// `atelier keys create|list|revoke`.
import { parseArgs } from 'node:util';
import { type Config, databaseTarget } from '../config.ts';
import { createApiKey } from '../domain/keys.ts';
import { listApiKeys, revokeApiKey } from '../store/accounts.ts';
import { openDatabase } from '../store/db.ts';

export async function keysCommand(config: Config, argv: string[], out = console.log): Promise<number> {
  const [sub, ...rest] = argv;
  const db = await openDatabase(databaseTarget(config));
  try {
    if (sub === 'create') {
      const { values } = parseArgs({
        args: rest,
        options: { compat: { type: 'string' }, account: { type: 'string' } },
      });
      if (values.compat !== undefined && values.compat !== 'astria') {
        out('--compat takes one value: astria');
        return 1;
      }
      const k = await createApiKey(db, {
        account: values.account,
        presentation: values.compat === 'astria' ? 'astria' : 'native',
      });
      out(`${k.key}`);
      out(
        `(key ${k.row.id} for account ${k.row.account_id} "${k.accountName}", mode ${k.row.presentation}; shown only once)`,
      );
      return 0;
    }
    if (sub === 'list') {
      const rows = await listApiKeys(db);
      out(['id', 'prefix', 'account', 'mode', 'created_at', 'last_used_at', 'revoked_at'].join('\t'));
      for (const r of rows)
        out(
          [
            r.id,
            `${r.prefix}…`,
            `${r.account_id}:${r.account_name}`,
            r.presentation,
            r.created_at,
            r.last_used_at ?? '-',
            r.revoked_at ?? '-',
          ].join('\t'),
        );
      return 0;
    }
    if (sub === 'revoke' && rest[0]) {
      const n = await revokeApiKey(db, rest[0].replace(/…$/, ''));
      out(n ? `revoked ${n} key(s)` : `no live key matches ${rest[0]}`);
      return n ? 0 : 1;
    }
    out('usage: atelier keys create [--compat astria] [--account NAME|ID] | list | revoke <ID|PREFIX>');
    return 1;
  } finally {
    await db.destroy();
  }
}
