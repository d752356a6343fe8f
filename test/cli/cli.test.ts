// The `atelier tunes|prompts` commands against a real server on a loopback port, run in-process with captured
// stdout/stderr (and once as a real child process for the exit code): --help everywhere, usage errors exit 2, API
// errors exit 1, --json for scripts, progress on stderr (bar on a TTY, plain lines otherwise), --out downloads.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { runCommand } from '../../src/cli/commands/index.ts';
import type { CliIO } from '../../src/cli/commands/io.ts';
import { jpeg } from '../api/helpers.ts';
import { type LiveServer, liveServer } from '../client/live-server.ts';

let s: LiveServer;
let dir: string;
let imagesDir: string;
before(async () => {
  s = await liveServer();
  dir = mkdtempSync(join(tmpdir(), 'atelier-cli-'));
  imagesDir = join(dir, 'faces');
  mkdirSync(imagesDir);
  for (let i = 0; i < 4; i++)
    writeFileSync(join(imagesDir, `${i}.jpg`), await jpeg(64, 64, { r: 50 * i, g: 90, b: 20 }));
  writeFileSync(join(imagesDir, 'notes.txt'), 'not an image');
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(
  argv: string[],
  opts: { env?: Record<string, string | undefined>; tty?: boolean } = {},
): Promise<Run> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (x: string) => (out += x) },
    stderr: { write: (x: string) => (err += x), isTTY: opts.tty ?? false, columns: 100 },
    env: opts.env ?? { ATELIER_URL: s.baseUrl, ATELIER_KEY: s.h.keyA },
  };
  const [cmd, ...rest] = argv;
  const code = await runCommand(cmd, rest, io);
  return { code, out, err };
}

async function trainedTuneId(title: string): Promise<number> {
  const r = await cli([
    'tunes',
    'create',
    '--title',
    title,
    '--name',
    'man',
    '--branch',
    'fast',
    '--wait',
    '--json',
    imagesDir,
  ]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).id;
}

test('--help works on every command and subcommand (exit 0), and create help comes from the schema', async () => {
  const helps = [
    ['tunes', '--help'],
    ['tunes', 'help'],
    ['tunes', 'create', '--help'],
    ['tunes', 'list', '--help'],
    ['tunes', 'show', '--help'],
    ['tunes', 'delete', '-h'],
    ['prompts', '--help'],
    ['prompts', 'create', '--help'],
    ['prompts', 'list', '--help'],
    ['prompts', 'show', '--help'],
    ['prompts', 'wait', '--help'],
    ['prompts', 'cancel', '--help'],
    ['prompts', 'delete', '--help'],
  ];
  for (const argv of helps) {
    const r = await cli(argv, { env: {} }); // no key needed for help
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.out, /usage: atelier/, argv.join(' '));
    assert.match(r.out, /--base-url URL/, argv.join(' '));
  }
  const create = (await cli(['prompts', 'create', '--help'])).out;
  assert.match(create, /--cfg-scale N\s+Classifier-free guidance scale, 0–15/);
  assert.match(create, /--scheduler VALUE\s+Diffusion scheduler \[euler, euler_a, dpm\+\+2m_karras/);
  assert.match(create, /--super-resolution\s+x4 super-resolution/);
});

test('usage errors exit 2 with a message on stderr and nothing on stdout', async () => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['tunes'], /usage: atelier tunes/],
    [['tunes', 'frobnicate'], /unknown subcommand: tunes frobnicate/],
    [['tunes', 'list', '--bogus'], /Unknown option '--bogus'/],
    [['tunes', 'create', '--name', 'man', imagesDir], /--title is required/],
    [
      ['tunes', 'create', '--title', 'x', '--name', 'man', join(dir, 'missing.jpg')],
      /no such file or folder/,
    ],
    [['tunes', 'show', 'abc'], /tune ID must be a number/],
    [['prompts', 'create', '12'], /prompt text is required/],
    [['prompts', 'create', '12', 'ohwx man', '--num-images', 'four'], /--num-images must be a number/],
    [['prompts', 'wait', '1', '--timeout', 'soon'], /--timeout must be a number of seconds/],
    [['tunes', 'list'], /no API key/, { ATELIER_URL: 'http://127.0.0.1:1' }],
    [['tunes', 'list', '--key', 'k', '--base-url', 'ftp://x'], /must be an http\(s\) URL/, {}],
  ];
  for (const [argv, message, env] of cases) {
    const r = await cli(argv, env ? { env } : {});
    assert.equal(r.code, 2, `${argv.join(' ')} → ${r.code}: ${r.err}`);
    assert.match(r.err + r.out, message, argv.join(' '));
    if (argv.length > 1) assert.equal(r.out, '', `${argv.join(' ')} printed on stdout`);
  }
});

test('tunes create from a folder --wait --json: trained tune JSON on stdout, plain progress lines on stderr', async () => {
  const r = await cli([
    'tunes',
    'create',
    '--title',
    'cli tune',
    '--name',
    'man',
    '--branch',
    'fast',
    '--wait',
    '--json',
    imagesDir,
    '--characteristic',
    'eye_color=blue',
  ]);
  assert.equal(r.code, 0, r.err);
  const t = JSON.parse(r.out);
  assert.equal(t.status, 'trained');
  assert.equal(t.orig_images.length, 4, 'the folder’s four .jpg files, not notes.txt');
  assert.deepEqual(t.characteristics, { eye_color: 'blue' });
  assert.match(r.err, new RegExp(`tune ${t.id} created`));
  assert.match(r.err, new RegExp(`^tune ${t.id}: trained 100%$`, 'm'));
  assert.ok(!r.err.includes('\r'), 'no carriage returns when stderr is not a terminal');

  const list = await cli(['tunes', 'list']);
  assert.equal(list.code, 0);
  assert.match(list.out, /^ID\s+STATUS\s+BRANCH/);
  assert.match(list.out, new RegExp(`^${t.id}\\s+trained\\s+fast\\s+lora\\s+man\\s.*cli tune$`, 'm'));
  const show = await cli(['tunes', 'show', String(t.id)]);
  assert.match(show.out, /^status\s+trained$/m);
  assert.match(show.out, /^images\s+4$/m);
  const json = await cli(['tunes', 'list', '--json', '--title', 'cli tune']);
  assert.deepEqual(
    JSON.parse(json.out).map((x: { id: number }) => x.id),
    [t.id],
  );
});

test('prompts create --out DIR waits with a TTY progress bar and saves the images', async () => {
  const tuneId = await trainedTuneId('cli prompts');
  const out = join(dir, 'out');
  const r = await cli(
    [
      'prompts',
      'create',
      String(tuneId),
      'ohwx man, studio portrait',
      '--num-images',
      '2',
      '--w',
      '256',
      '--h',
      '192',
      '--seed',
      '5',
      '--out',
      out,
    ],
    { tty: true },
  );
  assert.equal(r.code, 0, r.err);
  const id = Number(/^id\s+(\d+)$/m.exec(r.out)?.[1]);
  assert.ok(id > 0, r.out);
  assert.ok(r.err.includes('\r\u001b[2Kprompt '), 'redraws one line in place (CR + erase line)');
  assert.match(r.err, /prompt \d+ {2}\[[█░]{24}\] +\d+%/);
  assert.match(r.err, /\[█{24}\] 100% {2}completed/);
  assert.match(r.out, /^seed\s+5$/m);
  const files = readdirSync(out).sort();
  assert.deepEqual(files, [`${id}-1.jpg`, `${id}-2.jpg`]);
  for (const f of files) {
    const meta = await sharp(join(out, f)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 192]);
    assert.match(r.out, new RegExp(`saved\\s+${join(out, f)}`));
  }

  const wait = await cli(['prompts', 'wait', String(id), '--json', '--quiet']);
  assert.equal(wait.code, 0, wait.err);
  assert.equal(JSON.parse(wait.out).status, 'completed');
  assert.equal(wait.err, '');
  const list = await cli(['prompts', 'list', '--tune', String(tuneId)]);
  assert.match(list.out, new RegExp(`^${id}\\s+${tuneId}\\s+completed\\s+2/2\\s`, 'm'));
  const show = await cli(['prompts', 'show', String(id), '--json']);
  assert.equal(JSON.parse(show.out).images.length, 2);
  const del = await cli(['prompts', 'delete', String(id)]);
  assert.equal(del.code, 0);
  assert.match(del.out, new RegExp(`deleted prompt ${id}`));
  assert.equal((await cli(['prompts', 'show', String(id)])).code, 1);
  const delTune = await cli(['tunes', 'delete', String(tuneId), '--json']);
  assert.equal(JSON.parse(delTune.out).id, tuneId);
});

test('API errors exit 1: field errors of a 422, 404 with its code, unreachable server', async () => {
  const tuneId = await trainedTuneId('cli errors');
  const bad = await cli([
    'prompts',
    'create',
    String(tuneId),
    'ohwx man',
    '--cfg-scale',
    '40',
    '--num-images',
    '12',
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^error: (num_images|cfg_scale): Too big/);
  assert.equal(bad.err.match(/cfg_scale: /g)?.length, 1, 'each field message once');
  assert.equal(bad.err.match(/num_images: /g)?.length, 1, 'each field message once');
  assert.equal(bad.out, '');
  const noToken = await cli(['prompts', 'create', String(tuneId), 'no trigger word']);
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /^error: text: .*ohwx/m);
  const missing = await cli(['tunes', 'show', '999999']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /HTTP 404 not_found, request req_/);
  const down = await cli(['tunes', 'list'], { env: { ATELIER_URL: 'http://127.0.0.1:1', ATELIER_KEY: 'k' } });
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach the server/);
});

test('--base-url and --key override ATELIER_URL and ATELIER_KEY', async () => {
  const env = { ATELIER_URL: 'http://127.0.0.1:1', ATELIER_KEY: 'sd_wrong' };
  const r = await cli(['tunes', 'list', '--base-url', s.baseUrl, '--key', s.h.keyB, '--json'], { env });
  assert.equal(r.code, 0, r.err);
  assert.ok(Array.isArray(JSON.parse(r.out)));
  const wrongKey = await cli(['tunes', 'list', '--base-url', s.baseUrl], { env });
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.err, /HTTP 401 unauthorized/);
});

test('a cancelled prompt makes `prompts wait` exit 1', async () => {
  const slow = await liveServer({ fastTrainMs: 600_000 });
  try {
    const env = { ATELIER_URL: slow.baseUrl, ATELIER_KEY: slow.h.keyA };
    const t = await cli(
      ['tunes', 'create', '--title', 'slow', '--name', 'man', '--branch', 'fast', '--json', imagesDir],
      { env },
    );
    const tuneId = JSON.parse(t.out).id;
    const p = await cli(['prompts', 'create', String(tuneId), 'ohwx man', '--json'], { env });
    const id = JSON.parse(p.out).id;
    assert.equal((await cli(['prompts', 'cancel', String(id)], { env })).code, 0);
    const w = await cli(['prompts', 'wait', String(id)], { env });
    assert.equal(w.code, 1);
    assert.match(w.err, new RegExp(`prompt ${id} cancelled`));
    const timeout = await cli(['tunes', 'show', String(tuneId), '--wait', '--timeout', '0.2'], { env });
    assert.equal(timeout.code, 1);
    assert.match(timeout.err, /not finished after 200 ms/);
  } finally {
    await slow.close();
  }
});

test('as a child process the exit code reaches the shell', async () => {
  const script =
    "import { runCommand } from './src/cli/commands/index.ts';" +
    'process.exitCode = await runCommand(process.argv[1], process.argv.slice(2));';
  const child = (args: string[]) =>
    new Promise<number>((resolve) => {
      const c = execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script, ...args],
        { env: { ...process.env, ATELIER_URL: s.baseUrl, ATELIER_KEY: s.h.keyA } },
        () => resolve(c.exitCode ?? -1),
      );
    });
  assert.equal(await child(['tunes', 'list', '--json']), 0);
  assert.equal(await child(['tunes', 'show', '999999']), 1);
  assert.equal(await child(['tunes', 'list', '--nope']), 2);
  assert.ok(existsSync(imagesDir));
});
