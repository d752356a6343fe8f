// `atelier serve` and `atelier worker`.
import { buildApp } from '../api/app.ts';
import { type Config, describeDatabase } from '../config.ts';
import { ensureFirstKey } from '../domain/keys.ts';
import { openRuntime } from './runtime.ts';

/**
 * Upper bound on a graceful shutdown: running jobs are aborted and handed back at once, but a handler that ignores
 * its AbortSignal (or a stuck connection) must not keep the process alive; its lease then expires as after a crash.
 */
const SHUTDOWN_BOUND_MS = 20_000;

function onSignal(close: () => Promise<void>) {
  let closing = false;
  const handler = (sig: string) => {
    if (closing) process.exit(1);
    closing = true;
    console.error(`${sig}: shutting down`);
    setTimeout(() => {
      console.error(
        `shutdown took over ${SHUTDOWN_BOUND_MS} ms: exiting; unfinished jobs are retaken after their lease`,
      );
      process.exit(1);
    }, SHUTDOWN_BOUND_MS).unref();
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export async function serve(config: Config): Promise<number> {
  const rt = await openRuntime(config);
  const first = await ensureFirstKey(rt.svc.db);
  if (first) {
    console.log(`\nCreated the first API key (shown only once, store it now):\n\n    ${first.key}\n`);
    console.log(`Use it as:  curl -H "Authorization: Bearer ${first.key}" ${config.publicBaseUrl}/tunes\n`);
  }
  const app = await buildApp(config, { svc: rt.svc });
  // The dashboard (web/, docs/dashboard.md) is served by `serve` only, so API tests build apps without it.
  const { dashboardPlugin } = await import('../../web/plugin.ts');
  await app.register(dashboardPlugin, { config });
  await app.listen({ host: config.host, port: config.port });
  console.log(
    `Atelier listening on http://${config.host}:${config.port} (data: ${config.dataDir}, database: ${describeDatabase(config)}, worker: ${rt.worker ? 'in-process' : 'off'})`,
  );
  console.log(`Dashboard: ${config.publicBaseUrl}/   API description: ${config.publicBaseUrl}/openapi.json`);
  onSignal(async () => {
    await app.close();
    await rt.close();
  });
  return 0;
}

export async function workerOnly(config: Config): Promise<number> {
  const rt = await openRuntime(config, { worker: true, dispatcher: true });
  console.log(`Atelier worker ${rt.worker?.id} running (database: ${describeDatabase(config)})`);
  onSignal(() => rt.close());
  return 0;
}
