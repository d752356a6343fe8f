// Bearer API keys (API.md §1, CLIENTS.md item 1): the header name is case-insensitive (Node lowercases it), the
// scheme too. The key's account scopes every query; its presentation mode shapes `images`.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/context.ts';
import { AppError } from '../../domain/errors.ts';
import { ActiveKeyCache } from '../../store/accounts.ts';
import { globalPlugin } from '../plugin.ts';

export const authPlugin = globalPlugin(async (app: FastifyInstance, { svc }: { svc: Services }) => {
  // Keys are looked up by hash and remembered for ATELIER_API_KEY_CACHE_MS (the revocation delay across processes).
  const keys = new ActiveKeyCache(svc.db, svc.config.apiKeyCacheMs);
  app.decorateRequest('actor', null as never);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public || !req.routeOptions.url) return; // public route, or 404 handler
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const key = m ? await keys.find(m[1]) : undefined;
    if (!key) throw new AppError('unauthorized');
    req.actor = { accountId: key.account_id, presentation: key.presentation };
    await keys.touch(key);
  });
});
