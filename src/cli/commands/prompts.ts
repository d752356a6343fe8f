// `atelier prompts create|list|show|delete|wait|cancel`. The generation options of `create` are derived from the
// domain's prompt schema (through the OpenAPI component built from it): every field the API accepts is a flag,
// with the schema's own description and range in --help.
import { type AtelierClient, type Prompt, type PromptCreate, promptImageUrls } from '../../client/index.ts';
import { componentSchemas, type JsonSchema } from '../../openapi/document.ts';
import {
  clientFor,
  dispatch,
  type Globals,
  idArg,
  intOption,
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
import { saveImages } from './download.ts';
import { type CliIO, EXIT_API, EXIT_OK, processIO } from './io.ts';
import { ProgressReporter } from './progress.ts';

const USAGE = 'usage: atelier prompts <create|list|show|delete|wait|cancel> [options]';

const HELP = `${USAGE}

  create TUNE_ID [TEXT] [--text TEXT] [options]   generate images with a tune (--wait, --out DIR)
  list [--tune ID] [--text T] [--limit N] [--offset N] [--before-id ID]
  show ID                                         one prompt
  wait ID [--out DIR] [--timeout SECONDS]         follow a prompt with a progress bar until it finishes
  cancel ID                                       stop a queued or running prompt
  delete ID                                       delete the prompt and its images

Exit codes: 0 ok, 1 API error or a failed/cancelled prompt, 2 usage error.
'atelier prompts <subcommand> --help' shows the options of each.`;

interface ParamFlag {
  field: string;
  flag: string;
  schema: JsonSchema;
  kind: 'boolean' | 'integer' | 'number' | 'string';
}

/** One flag per prompt field of the schema (text, files and the base64 input are handled on their own). */
function paramFlags(): ParamFlag[] {
  const props = componentSchemas().PromptCreateJson.properties as Record<string, JsonSchema>;
  return Object.entries(props)
    .filter(([k]) => !['text', 'input_image_base64', 'input_image_url', 'mask_image_url'].includes(k))
    .map(([field, schema]) => {
      const t = schema.type ?? schema.anyOf?.find((s: JsonSchema) => s.type !== 'null')?.type;
      const kind = t === 'boolean' || t === 'integer' || t === 'number' ? t : 'string';
      return { field, flag: field.replaceAll('_', '-'), schema, kind };
    });
}

function flagHelp(f: ParamFlag): string {
  const s = f.schema;
  const arg = f.kind === 'boolean' ? '' : s.enum ? ' VALUE' : f.kind === 'string' ? ' TEXT' : ' N';
  const values = s.enum ? ` [${s.enum.join(', ')}]` : '';
  return `  --${`${f.flag}${arg}`.padEnd(34)} ${s.description ?? ''}${values}`;
}

function createHelp(flags: ParamFlag[]): string {
  return `usage: atelier prompts create TUNE_ID [TEXT] [--text TEXT] [options]

  TEXT / --text TEXT                  what to draw; must contain the tune's trigger word (e.g. "ohwx man")
  --input-image FILE|URL              input image for img2img / ControlNet (a file is uploaded)
  --mask-image FILE|URL               inpainting mask (one channel)
  --wait                              follow generation with a progress bar (exit 1 if it fails)
  --out DIR                           save the images into DIR as <prompt id>-<n>.jpg (implies --wait)
  --timeout SECONDS                   give up waiting after this long (exit 1)
  --idempotency-key KEY               a retry with the same key returns the first prompt instead of a new one

generation options (checked by the server; see docs/curl.md):
${flags.map(flagHelp).join('\n')}`;
}

function paramValue(f: ParamFlag, raw: string | boolean): unknown {
  if (f.kind === 'boolean') return raw;
  const s = String(raw);
  if (f.kind === 'integer' || f.kind === 'number' || f.field === 'backend_version') {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n))
      throw new UsageError(`--${f.flag} must be a number (got ${s})`);
    return n;
  }
  return s;
}

export function printPrompt(io: CliIO, p: Prompt, files: string[] = []): void {
  printFields(io, [
    ['id', p.id],
    ['tune_id', p.tune_id],
    ['status', p.status],
    ['progress', `${Math.round(p.progress * 100)}%`],
    ['text', p.text],
    ['negative', p.negative_prompt],
    ['num_images', p.num_images],
    ['size', p.w && p.h ? `${p.w}x${p.h}` : null],
    ['seed', p.seed],
    ['steps', p.steps],
    ['cfg_scale', p.cfg_scale],
    ['scheduler', p.scheduler],
    ['error', p.user_error],
    ['notes', p.notes.length ? p.notes.join('; ') : null],
    ['created_at', p.created_at],
    ['url', p.url],
  ]);
  for (const u of promptImageUrls(p)) io.stdout.write(`image  ${u}\n`);
  for (const f of files) io.stdout.write(`saved  ${f}\n`);
}

/** Waits with a progress bar, then saves images when asked. Exit 1 unless completed. */
async function finish(
  client: AtelierClient,
  io: CliIO,
  id: number,
  values: Globals & { out?: string; timeout?: string },
): Promise<number> {
  const bar = new ProgressReporter(io.stderr, `prompt ${id}`, !values.quiet);
  let p: Prompt;
  try {
    p = await client.prompts.wait(id, {
      timeoutMs: secondsOption(values.timeout, 'timeout'),
      onProgress: (u) => bar.update(u),
    });
  } finally {
    bar.finish();
  }
  const files = values.out && p.status === 'completed' ? await saveImages(client, p, values.out) : [];
  if (values.json) printJson(io, p);
  else printPrompt(io, p, files);
  if (values.json) for (const f of files) io.stderr.write(`saved ${f}\n`);
  if (p.status !== 'completed') {
    io.stderr.write(`prompt ${p.id} ${p.status}${p.user_error ? `: ${p.user_error}` : ''}\n`);
    return EXIT_API;
  }
  return EXIT_OK;
}

async function create(argv: string[], io: CliIO): Promise<number> {
  const flags = paramFlags();
  const { values, positionals } = parse(argv, {
    text: { type: 'string' },
    'input-image': { type: 'string' },
    'mask-image': { type: 'string' },
    wait: { type: 'boolean' },
    out: { type: 'string' },
    timeout: { type: 'string' },
    'idempotency-key': { type: 'string' },
    ...Object.fromEntries(
      flags.map((f) => [f.flag, { type: f.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
    ),
  });
  if (values.help) return printHelp(io, createHelp(flags));
  const tuneId = idArg(positionals[0], 'TUNE_ID');
  if (positionals.length > 2) throw new UsageError('quote the prompt text: it must be one argument');
  const text = (values.text as string | undefined) ?? positionals[1];
  if (!text) throw new UsageError('the prompt text is required (TEXT or --text)');
  const input: PromptCreate = { text };
  const params = input as unknown as Record<string, unknown>;
  for (const f of flags) {
    const raw = (values as Record<string, string | boolean | undefined>)[f.flag];
    if (raw !== undefined) params[f.field] = paramValue(f, raw);
  }
  if (values['input-image']) input.input_image = values['input-image'] as string;
  if (values['mask-image']) input.mask_image = values['mask-image'] as string;
  const client = clientFor(values, io);
  const p = await client.prompts.create(tuneId, input, {
    idempotencyKey: values['idempotency-key'] as string | undefined,
  });
  const wait = Boolean(values.wait || values.out);
  if (!values.json || wait) io.stderr.write(`prompt ${p.id} created on tune ${tuneId} (${p.status})\n`);
  if (wait)
    return finish(client, io, p.id, {
      ...values,
      out: values.out as string | undefined,
      timeout: values.timeout as string | undefined,
    });
  if (values.json) printJson(io, p);
  else printPrompt(io, p);
  return EXIT_OK;
}

async function list(argv: string[], io: CliIO): Promise<number> {
  const { values } = parse(argv, {
    tune: { type: 'string' },
    text: { type: 'string' },
    limit: { type: 'string' },
    offset: { type: 'string' },
    'before-id': { type: 'string' },
  });
  if (values.help)
    return printHelp(
      io,
      'usage: atelier prompts list [--tune ID] [--text T] [--limit N] [--offset N] [--before-id ID]\n\n' +
        'Own prompts (of one tune with --tune), newest first; --text matches part of the text.',
    );
  const prompts = await clientFor(values, io).prompts.list({
    tuneId: values.tune === undefined ? undefined : idArg(values.tune, '--tune'),
    text: values.text,
    limit: intOption(values.limit, 'limit'),
    offset: intOption(values.offset, 'offset'),
    beforeId: intOption(values['before-id'], 'before-id'),
  });
  if (values.json) printJson(io, prompts);
  else
    printTable(
      io,
      ['ID', 'TUNE', 'STATUS', 'IMAGES', 'CREATED', 'TEXT'],
      prompts.map((p) => [
        String(p.id),
        String(p.tune_id),
        p.status,
        `${p.images.length}/${p.num_images}`,
        p.created_at.slice(0, 16).replace('T', ' '),
        truncate(p.text, 70),
      ]),
    );
  return EXIT_OK;
}

async function show(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string' } });
  if (values.help)
    return printHelp(
      io,
      'usage: atelier prompts show ID [--out DIR]\n\nOne prompt; --out saves its images if it is completed.',
    );
  const client = clientFor(values, io);
  const p = await client.prompts.get(idArg(positionals[0], 'prompt ID'));
  const files = values.out && p.status === 'completed' ? await saveImages(client, p, values.out) : [];
  if (values.json) printJson(io, p);
  else printPrompt(io, p, files);
  return EXIT_OK;
}

async function wait(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, timeout: { type: 'string' } });
  if (values.help)
    return printHelp(
      io,
      'usage: atelier prompts wait ID [--out DIR] [--timeout SECONDS]\n\n' +
        'Follows the prompt (event stream, or polling on servers without one) with a progress bar on stderr\n' +
        'until it is completed (exit 0), failed or cancelled (exit 1); --out saves the images into DIR.',
    );
  const id = idArg(positionals[0], 'prompt ID');
  return finish(clientFor(values, io), io, id, values);
}

async function cancel(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help)
    return printHelp(io, 'usage: atelier prompts cancel ID\n\nStops a queued or running prompt.');
  const p = await clientFor(values, io).prompts.cancel(idArg(positionals[0], 'prompt ID'));
  if (values.json) printJson(io, p);
  else io.stdout.write(`prompt ${p.id} ${p.status}\n`);
  return EXIT_OK;
}

async function remove(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help)
    return printHelp(
      io,
      'usage: atelier prompts delete ID\n\nDeletes the prompt and its images (cancels it if running).',
    );
  const p = await clientFor(values, io).prompts.delete(idArg(positionals[0], 'prompt ID'));
  if (values.json) printJson(io, p);
  else io.stdout.write(`deleted prompt ${p.id}\n`);
  return EXIT_OK;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  create,
  list,
  ls: list,
  show,
  get: show,
  wait,
  cancel,
  delete: remove,
  rm: remove,
};

export function run(argv: string[], io: CliIO = processIO()): Promise<number> {
  return dispatch('prompts', SUBCOMMANDS, { usage: USAGE, help: HELP }, argv, io);
}
