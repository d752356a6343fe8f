// Start `atelier worker` (or `serve`) as a real child process (the same entry point operators run), with its settings in the
// environment only, and wait until it says it is running.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorker(env: Record<string, string>): Promise<WorkerProcess> {
  return spawnAtelier('worker', env, /worker .* running/);
}

/** `atelier <command>` as a child process; resolves once its output matches `ready`. */
export async function spawnAtelier(
  command: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', command], {
    cwd: ROOT,
    env: { ...process.env, ATELIER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (ready.test(out)) resolve();
    };
    child.stdout!.on('data', check);
    exited.then(({ code, signal }) =>
      reject(new Error(`${command} exited early (${code ?? signal}): ${out}`)),
    );
  });
  return { child, output: () => out, exited };
}
