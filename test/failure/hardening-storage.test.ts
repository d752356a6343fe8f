// Storage faults while writing: the SQLite file locked by another process, a blob store that runs out of space
// (injected ENOSPC), and a real full disk (a 1 MiB tmpfs as the data dir). Expected every time: a clear 503
// storage_unavailable with Retry-After (never a 500), no rows or blobs left behind, an intact database, and the same
// request succeeding once the fault is gone.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataUrl, type Harness, harness, jpeg, multipart } from '../api/helpers.ts';
import { rowCounts } from '../security/counts.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

async function tuneBody(title: string) {
  return {
    tune: {
      title,
      name: 'man',
      branch: 'fast',
      images: await Promise.all([0, 1, 2, 3].map(() => dataUrl())),
    },
  };
}

function integrity(h: Harness): string {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const D=require('better-sqlite3');const db=new D(process.argv[1],{readonly:true});console.log(db.pragma('integrity_check',{simple:true}))`,
      h.config.databaseFile,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return out.trim();
}

/** Another process that holds SQLite's write lock until told to let go. */
async function holdWriteLock(file: string): Promise<{ child: ChildProcess; release(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const D=require('better-sqlite3');const db=new D(process.argv[1]);db.exec('BEGIN EXCLUSIVE');` +
        `db.prepare("INSERT INTO settings(key,value) VALUES ('lock-holder','1')").run();` +
        `process.stdout.write('locked\\n');process.stdin.once('data',()=>{db.exec('ROLLBACK');db.close();process.exit(0)});`,
      file,
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`lock holder exited ${c}`)));
  });
  return {
    child,
    release: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin?.write('go\n');
      }),
  };
}

test('database locked by another process: 503 storage_unavailable, nothing written, then the retry succeeds', async () => {
  const h = await harness();
  try {
    assert.equal((await h.req({ method: 'GET', url: '/tunes' })).statusCode, 200); // key's last_used_at written now
    const before = await rowCounts(h);
    const lock = await holdWriteLock(h.config.databaseFile);
    let res: Awaited<ReturnType<Harness['req']>>;
    try {
      res = await h.req({ method: 'POST', url: '/tunes', payload: await tuneBody('locked') });
    } finally {
      await lock.release();
    }
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json().code, 'storage_unavailable');
    assert.equal(res.headers['retry-after'], '5');
    assert.deepEqual(await rowCounts(h), before);
    assert.equal(integrity(h), 'ok');
    const again = await h.req({ method: 'POST', url: '/tunes', payload: await tuneBody('locked') });
    assert.equal(again.statusCode, 201, again.body);
  } finally {
    await h.close();
  }
});

test('blob store out of space (ENOSPC) while storing tune images or a prompt input: 503, no rows, no blobs', async () => {
  const h = await harness();
  const blobs = h.rt.svc.blobs;
  const realPut = blobs.put.bind(blobs);
  let puts = 0;
  // the second write fails: the first image is already stored and must be removed again
  blobs.put = async (key, data) => {
    puts += 1;
    if (puts >= 2)
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${key}'`), { code: 'ENOSPC' });
    return realPut(key, data);
  };
  try {
    const before = await rowCounts(h);
    const res = await h.req({ method: 'POST', url: '/tunes', payload: await tuneBody('full') });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json().code, 'storage_unavailable');
    assert.deepEqual(await rowCounts(h), before, 'no tune rows left behind');
    assert.deepEqual(listFiles(join(h.dir, 'blobs')), [], 'the image stored before the failure was removed');

    blobs.put = realPut;
    const ok = await h.req({ method: 'POST', url: '/tunes', payload: await tuneBody('full') });
    assert.equal(ok.statusCode, 201, ok.body);
    const tuneId = ok.json().id;
    await waitTrained(h, tuneId);

    puts = 0;
    blobs.put = async (key, _data) => {
      puts += 1;
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${key}'`), { code: 'ENOSPC' });
    };
    const beforePrompt = await rowCounts(h);
    const body = await multipart([
      ['prompt[text]', 'ohwx man'],
      ['prompt[num_images]', '1'],
      ['prompt[input_image]', { data: await jpeg(64, 64), filename: 'in.jpg', type: 'image/jpeg' }],
    ]);
    const p = await h.req({ method: 'POST', url: `/tunes/${tuneId}/prompts`, ...body });
    assert.equal(p.statusCode, 503, p.body);
    assert.ok(puts > 0, 'the prompt path did try to write');
    assert.deepEqual(await rowCounts(h), beforePrompt, 'no prompt row left behind');
  } finally {
    blobs.put = realPut;
    await h.close();
  }
});

async function waitTrained(h: Harness, id: number) {
  for (let i = 0; i < 2000; i++) {
    const t = (await h.req({ method: 'GET', url: `/tunes/${id}` })).json();
    if (t.trained_at) return;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error('tune not trained');
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

test('a real full disk (1 MiB tmpfs data dir): uploads are refused with 503, the database stays intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  let h: Harness | undefined;
  try {
    h = await harness({ dataDir: dir, uploadMaxFileBytes: 4 * 1024 * 1024 });
    // noise images do not compress: four per tune quickly fill 1 MiB
    const noise = async () => {
      const px = Buffer.alloc(256 * 256 * 3);
      for (let i = 0; i < px.length; i++) px[i] = (Math.random() * 256) | 0;
      const sharp = (await import('sharp')).default;
      return sharp(px, { raw: { width: 256, height: 256, channels: 3 } })
        .png()
        .toBuffer();
    };
    const statuses: number[] = [];
    for (let i = 0; i < 20 && !statuses.includes(503); i++) {
      const before = await rowCounts(h);
      const body = await multipart([
        ['tune[title]', `disk-${i}`],
        ['tune[name]', 'man'],
        ['tune[branch]', 'fast'],
        ...(await Promise.all(
          [0, 1, 2, 3].map(
            async (): Promise<[string, { data: Buffer; filename: string }]> => [
              'tune[images][]',
              { data: await noise(), filename: 'n.png' },
            ],
          ),
        )),
      ]);
      const res = await h.req({ method: 'POST', url: '/tunes', ...body });
      statuses.push(res.statusCode);
      assert.ok(res.statusCode < 500 || res.statusCode === 503, `${res.statusCode} ${res.body}`);
      if (res.statusCode === 503) {
        assert.equal(res.json().code, 'storage_unavailable');
        assert.deepEqual(await rowCounts(h), before, 'the refused tune left no rows');
      }
    }
    assert.ok(statuses.includes(503), `the disk never filled: ${statuses.join(',')}`);
    assert.equal(integrity(h), 'ok');
    // existing data is still served
    assert.equal((await h.req({ method: 'GET', url: '/tunes' })).statusCode, 200);
  } finally {
    await h?.close();
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});
