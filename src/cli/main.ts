// The `atelier` command: `serve` (HTTP API + in-process worker), `worker` (jobs only), `keys create|list|revoke`.
// Roles are imported lazily so `keys list` does not load Fastify or sharp.
import { ConfigError, loadConfig } from '../config.ts';

const USAGE = `usage: atelier <command>
  serve                                  start the API (and, by default, the job worker) on embedded defaults
  worker                                 run only the job worker and webhook dispatcher
  keys create [--compat astria] [--account NAME|ID]
                                         create an API key (new account unless --account); prints it once
  keys list                              list keys (prefix, account, mode, created, last used, revoked)
  keys revoke <ID|PREFIX>                revoke a key
  base-tunes add [ID] --title T [--branch B] [--name N]
                                         add an operator base model every account can prompt (e.g. 690204)
  base-tunes list                        list base models
configuration: ATELIER_* environment variables (docs/configuration.md)`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return (await import('./serve.ts')).serve(loadConfig());
    case 'worker':
      return (await import('./serve.ts')).workerOnly(loadConfig());
    case 'keys':
      return (await import('./keys.ts')).keysCommand(loadConfig(), rest);
    case 'base-tunes':
      return (await import('./base-tunes.ts')).baseTunesCommand(loadConfig(), rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      console.error(`unknown command: ${cmd}\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exitCode = 1;
  },
);
