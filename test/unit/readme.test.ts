// The README is part of the product: its quick start and configuration table must stay true to the code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('every ATELIER_* setting the code reads is in the README configuration table', () => {
  const names = new Set<string>();
  for (const f of sources(join(root, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bATELIER_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(m[0]);
  }
  // Passed by Atelier to an external trainer's child process, not read from the operator's environment.
  names.delete('ATELIER_TRAIN_CONFIG');
  const missing = [...names].filter((n) => !readme.includes(`\`${n}\``)).sort();
  assert.deepEqual(missing, [], `README lacks: ${missing.join(', ')}`);
});

test('the quick start is two commands, and they are the package scripts that exist', () => {
  const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Using the API'));
  const block = /```sh\n([\s\S]*?)```/.exec(quick)?.[1] ?? '';
  const commands = block
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  assert.deepEqual(commands, ['npm ci && npm start', 'npm test']);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  assert.ok(pkg.scripts.start.includes('serve') && pkg.scripts.test.includes('run-tests'));
  assert.match(readFileSync(join(root, '.ci/run'), 'utf8'), /npm ci\s*\nnpm test/);
});
