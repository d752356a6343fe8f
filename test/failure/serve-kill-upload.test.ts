// Failure mode: the API server process is SIGKILLed while it receives a multi-file tune upload. After a restart
// on the same data, no half-created tune is visible: the list holds only the tune whose upload completed, and no
// image row belongs to a tune that does not exist.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDatabase } from '../../src/store/db.ts';
import { jpeg, multipart } from '../api/helpers.ts';
import { spawnAtelier, type WorkerProcess } from './spawn-worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-kill-upload-'));
const running: WorkerProcess[] = [];
after(async () => {
  for (const p of running) if (p.child.exitCode === null && !p.child.signalCode) p.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startServe(port: number): Promise<WorkerProcess> {
  const p = await spawnAtelier(
    'serve',
    { ATELIER_DATA_DIR: dir, ATELIER_PORT: String(port), ATELIER_WORKER_IN_PROCESS: 'false' },
    /Atelier listening on/,
  );
  running.push(p);
  return p;
}

const tuneParts = async (title: string) => {
  const img = await jpeg(256, 256);
  return multipart([
    ['tune[title]', title],
    ['tune[name]', 'man'],
    ['tune[branch]', 'fast'],
    ...Array.from(
      { length: 6 },
      () =>
        ['tune[images][]', { data: img, filename: 'a.jpg', type: 'image/jpeg' }] as [
          string,
          { data: Buffer; filename: string; type: string },
        ],
    ),
  ]);
};

test('a server killed mid-upload leaves no half-created tune', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const first = await startServe(port);
  const key = /Bearer ([^"\s]+)/.exec(first.output())?.[1];
  assert.ok(key, `first key printed: ${first.output()}`);
  const auth = { authorization: `Bearer ${key}` };

  const whole = await tuneParts('complete');
  const ok = await fetch(`${base}/tunes`, {
    method: 'POST',
    headers: { ...auth, ...whole.headers },
    body: new Uint8Array(whole.payload),
  });
  assert.equal(ok.status, 201, await ok.text());

  // Send all but the tail of a second upload, wait until those bytes left this process, then kill the server.
  const cut = await tuneParts('interrupted');
  const req = request(`${base}/tunes`, {
    method: 'POST',
    headers: { ...auth, ...cut.headers, 'content-length': String(cut.payload.length) },
  });
  req.on('error', () => {}); // the connection dies with the server
  await new Promise<void>((r) => req.write(cut.payload.subarray(0, cut.payload.length - 500), () => r()));
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  req.destroy();

  const second = await startServe(port);
  try {
    const list = await fetch(`${base}/tunes`, { headers: auth });
    assert.equal(list.status, 200);
    const titles = ((await list.json()) as { title: string }[]).map((t) => t.title);
    assert.deepEqual(titles, ['complete']);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
  const db = await openDatabase(join(dir, 'atelier.db'));
  try {
    const tunes = await db.selectFrom('tunes').select(['id', 'title']).execute();
    assert.deepEqual(
      tunes.map((t) => t.title),
      ['complete'],
    );
    const orphans = await db
      .selectFrom('tune_images')
      .select('id')
      .where(
        'tune_id',
        'not in',
        tunes.map((t) => t.id),
      )
      .execute();
    assert.deepEqual(orphans, []);
  } finally {
    await db.destroy();
  }
});
