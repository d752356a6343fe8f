// The `atelier` command: server roles (`serve`, `worker`), operator commands (`keys`, `base-tunes`, `packs`, `models`)
// and the API client commands (`tunes`, `prompts`, src/cli/commands/). Each is imported lazily, so `keys list`
// loads neither Fastify nor sharp, and nothing but `serve`/`worker`/`models` loads the engine.
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
  packs load <FILE|FOLDER>               load gallery packs (JSON/YAML, upsert by slug; atelier packs --help)
  models list|pull|add|verify            install SD base models (docs/models.md; atelier models --help)
API client (talks to a running server: --base-url/ATELIER_URL, --key/ATELIER_KEY):
%COMMANDS%
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
    case 'packs':
      return (await import('./packs.ts')).packsCommand(loadConfig(), rest);
    case 'models':
      return (await import('./models.ts')).runModelsCommand(rest, loadConfig());
  }
  const commands = await import('./commands/index.ts');
  if (commands.hasCommand(cmd)) return commands.runCommand(cmd!, rest);
  const usage = USAGE.replace('%COMMANDS%', commands.COMMANDS_USAGE);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(usage);
    return cmd === undefined ? 1 : 0;
  }
  console.error(`unknown command: ${cmd}\n${usage}`);
  return 1;
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
