// `atelier packs load <file|folder>`: loads gallery packs into the configured database (the same loader as
// ATELIER_PACKS_FILE), reloads in place, names the bad pack, and answers --help and usage errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKS_USAGE, packsCommand } from '../../src/cli/packs.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/store/db.ts';
import { listGalleryPacks } from '../../src/store/packs.ts';

const SHIPPED = new URL('../../packs', import.meta.url).pathname;

async function run(config: ReturnType<typeof loadConfig>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await packsCommand(
    config,
    argv,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function galleryOf(config: ReturnType<typeof loadConfig>) {
  const db = await openDatabase(config.databaseUrl ?? config.databaseFile);
  try {
    return (await listGalleryPacks(db)).map((p) => ({ id: p.id, slug: p.slug, title: p.title }));
  } finally {
    await db.destroy();
  }
}

test('packs load: the shipped folder lands in the gallery; loading again keeps the ids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-packs-cli-'));
  try {
    const config = loadConfig({ dataDir: dir }, {});
    const first = await run(config, ['load', SHIPPED]);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /loaded 2 pack\(s\).*professional-headshots, natural-light-portraits/);
    const before = await galleryOf(config);
    assert.deepEqual(
      before.map((p) => p.slug),
      ['professional-headshots', 'natural-light-portraits'],
    );
    assert.equal((await run(config, ['load', SHIPPED])).code, 0);
    assert.deepEqual(await galleryOf(config), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('packs load: a YAML file updates a pack in place; an invalid pack exits 1 naming the file and the pack', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-packs-cli-'));
  try {
    const config = loadConfig({ dataDir: dir }, {});
    const yaml = join(dir, 'pets.yaml');
    const write = (title: string) =>
      writeFileSync(
        yaml,
        [
          'packs:',
          '  - slug: pets',
          `    title: ${title}`,
          '    prompts:',
          '      cat:',
          '        - ohwx cat asleep',
        ].join('\n'),
      );
    write('Pets');
    assert.equal((await run(config, ['load', yaml])).code, 0);
    const [pets] = await galleryOf(config);
    write('Pets, renamed');
    assert.equal((await run(config, ['load', yaml])).code, 0);
    assert.deepEqual(await galleryOf(config), [{ id: pets!.id, slug: 'pets', title: 'Pets, renamed' }]);

    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ packs: [{ slug: 'bad', title: 'Bad', prompts: { man: ['a man'] } }] }),
    );
    const r = await run(config, ['load', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.json, pack 0 \(bad\).*ohwx/);
    assert.equal(r.out, '');
    const missing = await run(config, ['load', join(dir, 'nope.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /nope\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('packs --help and load --help print the usage (exit 0); usage errors exit 2 on stderr', async () => {
  const config = loadConfig({ dataDir: mkdtempSync(join(tmpdir(), 'atelier-packs-cli-')) }, {});
  for (const argv of [['--help'], ['help'], ['load', '--help'], ['-h']]) {
    const r = await run(config, argv);
    assert.equal(r.code, 0, argv.join(' '));
    assert.equal(r.out, PACKS_USAGE);
  }
  for (const argv of [[], ['load'], ['load', 'a', 'b'], ['list']]) {
    const r = await run(config, argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.out, '');
    assert.match(r.err, /usage: atelier packs load/);
  }
});
