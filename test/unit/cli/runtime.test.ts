// The composition root installs the real sd15 engines only when a base model is installed, and fast always.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalBlobStore } from '../../../src/blobs/local-blob-store.ts';
import { consoleLogger, installedEngines } from '../../../src/cli/runtime.ts';
import { loadConfig } from '../../../src/config.ts';
import { generatorFor, installedBranches, trainerFor } from '../../../src/domain/ports.ts';
import { writeManifest } from '../../../src/engine/models-dir.ts';
import { openSqlite } from '../../../src/store/db.ts';

test('fast only without models; sd15 generator and LoRA trainer first once an sd15 model is installed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-engines-'));
  try {
    const config = loadConfig({ dataDir: dir, logLevel: 'silent' }, {});
    const db = await openSqlite(config.databaseFile);
    const deps = { db, blobs: new LocalBlobStore(join(dir, 'blobs')) };
    const none = await installedEngines(config, deps, consoleLogger('silent'));
    assert.deepEqual(installedBranches(none), ['fast']);
    assert.equal(generatorFor(none, 'sd15'), undefined);

    writeManifest(dir, {
      name: 'tiny',
      branch: 'sd15',
      source: { kind: 'add', from: '/nowhere' },
      checkpoint: '/nowhere/model',
      files: [],
      tuneId: null,
    } as unknown as Parameters<typeof writeManifest>[1]);
    const withModel = await installedEngines(config, deps, consoleLogger('silent'));
    assert.deepEqual(installedBranches(withModel), ['sd15', 'fast'], 'a tune without a branch now gets sd15');
    assert.equal(generatorFor(withModel, 'sd15')?.capabilities().mock, false);
    assert.ok(trainerFor(withModel, 'sd15', 'lora'));
    assert.ok(generatorFor(withModel, 'fast'));
    // The sd15 generator owns a generation thread: close it, as the server does on shutdown.
    for (const g of withModel.generators) await (g as { close?: () => Promise<void> }).close?.();
    await db.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
