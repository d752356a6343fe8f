// Builds the dashboard into web/dist: esbuild bundles web/src (TypeScript + CSS) into content-hashed assets,
// the request-body JSON Schemas are generated from the zod schemas the API validates with (src/domain), and
// index.html is written pointing at the hashed names. `ensureDashboardBuilt()` rebuilds only when a source
// changed (a hash over web/src, the domain schemas and this file, recorded in dist/manifest.json).
//
// CLI: `tsx web/build.ts` builds unconditionally.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { z } from 'zod';

const webDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(webDir, '..');
export const DEFAULT_DIST = join(webDir, 'dist');
const SRC = join(webDir, 'src');
/** The zod schemas the prompt and tune forms are generated from. */
const SCHEMA_SOURCES = [join(repoRoot, 'src/domain')];

export interface DashboardManifest {
  sourceHash: string;
  /** logical name → path under /assets/ */
  assets: { js: string; css: string; promptSchema: string; tuneSchema: string };
  builtAt: string;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? listFiles(p) : [p];
    })
    .sort();
}

/** Hash of everything the build reads: if it is unchanged, so is the output. */
export function sourceHash(): string {
  const h = createHash('sha256');
  for (const file of [
    fileURLToPath(import.meta.url),
    ...listFiles(SRC),
    ...SCHEMA_SOURCES.flatMap(listFiles),
  ]) {
    h.update(relative(repoRoot, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

const shortHash = (data: string | Buffer) =>
  createHash('sha256').update(data).digest('hex').slice(0, 12).toUpperCase();

/** JSON Schemas of the request bodies, from the API's own zod schemas (zod 4's z.toJSONSchema). */
async function requestSchemas(): Promise<{ prompt: unknown; tune: unknown }> {
  const promptModule = await import('../src/domain/prompt-schema.ts');
  const tuneModule = await import('../src/domain/tune-schema.ts');
  // io 'output': the value type after the API's coercions (string "4" → 4), i.e. what a form should send.
  // Uploaded files (Buffers) have no JSON Schema form: they become `{}` and the form draws file pickers instead.
  const opts = { io: 'output', unrepresentable: 'any' } as const;
  return {
    prompt: z.toJSONSchema(promptModule.promptSchema, opts),
    tune: z.toJSONSchema(tuneModule.tuneCreateSchema, opts),
  };
}

export async function buildDashboard(outDir = DEFAULT_DIST): Promise<DashboardManifest> {
  const hash = sourceHash();
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  const assetsDir = join(staging, 'assets');
  mkdirSync(assetsDir, { recursive: true });
  try {
    const result = await build({
      entryPoints: [
        { in: join(SRC, 'main.ts'), out: 'app' },
        { in: join(SRC, 'styles.css'), out: 'app' },
      ],
      outdir: assetsDir,
      entryNames: '[name]-[hash]',
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
      minify: true,
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = Object.keys(result.metafile.outputs).map((p) => relative(assetsDir, resolve(p)));
    const js = outputs.find((p) => p.endsWith('.js'));
    const css = outputs.find((p) => p.endsWith('.css'));
    if (!js || !css) throw new Error(`esbuild produced no ${js ? 'CSS' : 'JS'} bundle`);

    const schemas = await requestSchemas();
    const schemaFile = (name: string, schema: unknown) => {
      const text = JSON.stringify(schema);
      const file = `${name}-${shortHash(text)}.json`;
      writeFileSync(join(assetsDir, file), text);
      return file;
    };
    const assets = {
      js,
      css,
      promptSchema: schemaFile('prompt-schema', schemas.prompt),
      tuneSchema: schemaFile('tune-schema', schemas.tune),
    };
    const template = readFileSync(join(SRC, 'index.html'), 'utf8');
    const html = template
      .replace('{{js}}', `/assets/${assets.js}`)
      .replace('{{css}}', `/assets/${assets.css}`)
      .replace('{{promptSchema}}', `/assets/${assets.promptSchema}`)
      .replace('{{tuneSchema}}', `/assets/${assets.tuneSchema}`);
    if (/\{\{\w+\}\}/.test(html))
      throw new Error(`index.html has an unknown placeholder: ${html.match(/\{\{\w+\}\}/)![0]}`);
    writeFileSync(join(staging, 'index.html'), html);
    const manifest: DashboardManifest = { sourceHash: hash, assets, builtAt: new Date().toISOString() };
    writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2));
    // Swap in the finished build, so a server never sees a half-written dist. Another process may have
    // finished the same build first: then its copy is as good as ours.
    rmSync(outDir, { recursive: true, force: true });
    try {
      renameSync(staging, outDir);
    } catch (e) {
      if (readManifest(outDir)?.sourceHash !== hash) throw e;
    }
    return manifest;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export function readManifest(outDir = DEFAULT_DIST): DashboardManifest | null {
  try {
    return JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as DashboardManifest;
  } catch {
    return null;
  }
}

/** Builds when dist is missing or older than its sources; returns the manifest of what is there. */
export async function ensureDashboardBuilt(outDir = DEFAULT_DIST): Promise<DashboardManifest> {
  const current = readManifest(outDir);
  if (current && current.sourceHash === sourceHash()) return current;
  return buildDashboard(outDir);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const m = await buildDashboard();
  console.log(`dashboard built in ${Math.round(performance.now() - started)} ms:`, m.assets);
}
