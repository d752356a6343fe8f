// checkHealth (src/api/routes/metrics/health.ts): all three checks pass on a working runtime, and each failure is
// reported under its own name with its message.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkHealth } from '../../src/api/routes/metrics/health.ts';
import type { BlobStore } from '../../src/blobs/blob-store.ts';
import { type Harness, harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

test('database, queue and storage all answer on a working runtime', async () => {
  assert.deepEqual(await checkHealth(h.rt.svc), {
    ok: true,
    checks: { database: 'ok', queue: 'ok', storage: 'ok' },
  });
});

test('a storage that loses writes and a queue that throws are reported by name', async () => {
  const forgetful: BlobStore = {
    put: async () => {},
    get: async () => undefined,
    delete: async () => {},
    deletePrefix: async () => {},
  };
  const queue = Object.create(h.rt.svc.queue, {
    nextDueAt: { value: async () => Promise.reject(new Error('queue connection refused')) },
  });
  const r = await checkHealth({ db: h.rt.svc.db, queue, blobs: forgetful });
  assert.equal(r.ok, false);
  assert.equal(r.checks.database, 'ok');
  assert.equal(r.checks.queue, 'queue connection refused');
  assert.match(r.checks.storage, /different bytes/);
});
