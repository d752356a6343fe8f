// `atelier tunes create|list|show|delete`.
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { AtelierClient, Tune, TuneCreate } from '../../client/index.ts';
import { BRANCHES } from '../../domain/vocab.ts';
import {
  clientFor,
  dispatch,
  type Globals,
  idArg,
  intOption,
  pairs,
  parse,
  printFields,
  printHelp,
  printJson,
  printTable,
  type Subcommand,
  secondsOption,
  truncate,
  UsageError,
} from './common.ts';
import { type CliIO, EXIT_API, EXIT_OK, processIO } from './io.ts';
import { ProgressReporter } from './progress.ts';

const USAGE = 'usage: atelier tunes <create|list|show|delete> [options]';

const HELP = `${USAGE}

  create --title T --name CLASS [options] IMAGE...   create a tune from image files or folders and start training
  list [--limit N] [--offset N] [--before-id ID] [--title T] [--branch B] [--model-type M]
  show ID [--wait]                                   one tune; --wait follows training to the end
  delete ID                                          delete the tune, its prompts and their images

'atelier tunes <subcommand> --help' shows the options of each.`;

const CREATE_HELP = `usage: atelier tunes create --title T --name CLASS [options] IMAGE...

  IMAGE...                 image files (JPEG, PNG, WebP), or folders of them; http(s) URLs are downloaded by the server
  --title T                title; also the idempotency key (the same title again returns the existing tune)
  --name CLASS             class noun: man, woman, boy, girl, baby, cat, dog, couple, style, …
  --branch B               ${BRANCHES.join(', ')} (fast = mock training in seconds, for trying things out)
  --model-type M           lora (default), faceid, pti, checkpoint
  --token WORD             trigger word (default ohwx)
  --steps N                training steps (default from the image count)
  --face-crop              crop training images to faces
  --training-face-correct  face-correct training images
  --base-tune-id ID        base model tune
  --callback URL           POSTed {"tune": …} when training ends
  --characteristic K=V     substituted for {{K}} in prompt texts (repeatable)
  --image-url URL          a training image by URL (repeatable)
  --wait                   follow training with a progress bar until trained or failed (exit 1 if failed)
  --timeout SECONDS        give up waiting after this long (exit 1)`;

const IMAGE_EXTS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Files as given, folders expanded to their image files (sorted, not recursive). */
async function expandImages(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    if (/^(https?:|data:)/i.test(a)) {
      out.push(a);
      continue;
    }
    const st = await stat(a).catch(() => null);
    if (!st) throw new UsageError(`no such file or folder: ${a}`);
    if (st.isDirectory()) {
      const names = (await readdir(a)).filter((n) => IMAGE_EXTS.has(extname(n).toLowerCase())).sort();
      if (!names.length) throw new UsageError(`no .jpg/.png/.webp files in ${a}`);
      out.push(...names.map((n) => join(a, n)));
    } else out.push(a);
  }
  return out;
}

export function printTune(io: CliIO, t: Tune): void {
  printFields(io, [
    ['id', t.id],
    ['title', t.title],
    ['name', t.name],
    ['token', t.token],
    ['branch', t.branch],
    ['model_type', t.model_type],
    ['status', t.status],
    ['progress', `${Math.round(t.progress * 100)}%`],
    ['steps', t.steps],
    ['images', t.orig_images.length],
    ['trained_at', t.trained_at],
    ['failed_at', t.failed_at],
    ['error', t.user_error],
    ['created_at', t.created_at],
    ['url', t.url],
  ]);
}

async function waitForTune(
  client: AtelierClient,
  io: CliIO,
  id: number,
  values: Globals,
  timeoutMs?: number,
): Promise<Tune> {
  const bar = new ProgressReporter(io.stderr, `tune ${id}`, !values.quiet);
  try {
    return await client.tunes.wait(id, { timeoutMs, onProgress: (u) => bar.update(u) });
  } finally {
    bar.finish();
  }
}

async function create(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {
    title: { type: 'string' },
    name: { type: 'string' },
    branch: { type: 'string' },
    'model-type': { type: 'string' },
    token: { type: 'string' },
    steps: { type: 'string' },
    'face-crop': { type: 'boolean' },
    'training-face-correct': { type: 'boolean' },
    'base-tune-id': { type: 'string' },
    callback: { type: 'string' },
    characteristic: { type: 'string', multiple: true },
    'image-url': { type: 'string', multiple: true },
    preset: { type: 'string' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
  });
  if (values.help) return printHelp(io, CREATE_HELP);
  if (!values.title) throw new UsageError('--title is required');
  if (!values.name) throw new UsageError('--name is required');
  const timeoutMs = secondsOption(values.timeout, 'timeout');
  const images = await expandImages(positionals);
  const client = clientFor(values, io);
  const input: TuneCreate = {
    title: values.title,
    name: values.name,
    branch: values.branch as TuneCreate['branch'],
    model_type: values['model-type'] as TuneCreate['model_type'],
    token: values.token,
    steps: intOption(values.steps, 'steps'),
    face_crop: values['face-crop'],
    training_face_correct: values['training-face-correct'],
    base_tune_id: intOption(values['base-tune-id'], 'base-tune-id'),
    callback: values.callback,
    characteristics: pairs(values.characteristic, 'characteristic'),
    preset: values.preset,
    images,
    image_urls: values['image-url'],
  };
  let tune = await client.tunes.create(input);
  if (!values.json || values.wait) io.stderr.write(`tune ${tune.id} created (${tune.status})\n`);
  if (values.wait) tune = await waitForTune(client, io, tune.id, values, timeoutMs);
  if (values.json) printJson(io, tune);
  else printTune(io, tune);
  return tune.status === 'failed' ? EXIT_API : EXIT_OK;
}

async function list(argv: string[], io: CliIO): Promise<number> {
  const { values } = parse(argv, {
    limit: { type: 'string' },
    offset: { type: 'string' },
    'before-id': { type: 'string' },
    title: { type: 'string' },
    branch: { type: 'string' },
    'model-type': { type: 'string' },
  });
  if (values.help)
    return printHelp(
      io,
      'usage: atelier tunes list [--limit N] [--offset N] [--before-id ID] [--title T] [--branch B] [--model-type M]\n\n' +
        'Own tunes and base models, newest first (20 by default, at most 120 per page).',
    );
  const tunes = await clientFor(values, io).tunes.list({
    limit: intOption(values.limit, 'limit'),
    offset: intOption(values.offset, 'offset'),
    beforeId: intOption(values['before-id'], 'before-id'),
    title: values.title,
    branch: values.branch,
    modelType: values['model-type'],
  });
  if (values.json) printJson(io, tunes);
  else
    printTable(
      io,
      ['ID', 'STATUS', 'BRANCH', 'TYPE', 'NAME', 'CREATED', 'TITLE'],
      tunes.map((t) => [
        String(t.id),
        t.status,
        t.branch,
        t.model_type ?? 'checkpoint',
        t.name,
        t.created_at.slice(0, 16).replace('T', ' '),
        truncate(t.title, 60),
      ]),
    );
  return EXIT_OK;
}

async function show(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, { wait: { type: 'boolean' }, timeout: { type: 'string' } });
  if (values.help)
    return printHelp(
      io,
      'usage: atelier tunes show ID [--wait [--timeout SECONDS]]\n\n' +
        'One tune. --wait follows training with a progress bar until it is trained or failed (exit 1 if failed).',
    );
  const id = idArg(positionals[0], 'tune ID');
  const client = clientFor(values, io);
  const tune = values.wait
    ? await waitForTune(client, io, id, values, secondsOption(values.timeout, 'timeout'))
    : await client.tunes.get(id);
  if (values.json) printJson(io, tune);
  else printTune(io, tune);
  return values.wait && tune.status === 'failed' ? EXIT_API : EXIT_OK;
}

async function remove(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help)
    return printHelp(
      io,
      'usage: atelier tunes delete ID\n\nDeletes the tune, its files, its prompts and their images.',
    );
  const id = idArg(positionals[0], 'tune ID');
  const tune = await clientFor(values, io).tunes.delete(id);
  if (values.json) printJson(io, tune);
  else io.stdout.write(`deleted tune ${tune.id} (${tune.title})\n`);
  return EXIT_OK;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  create,
  list,
  ls: list,
  show,
  get: show,
  delete: remove,
  rm: remove,
};

export function run(argv: string[], io: CliIO = processIO()): Promise<number> {
  return dispatch('tunes', SUBCOMMANDS, { usage: USAGE, help: HELP }, argv, io);
}
