import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalBlobStore } from '../../../src/blobs/local-blob-store.ts';

test('put/get/delete/deletePrefix; keys cannot escape the root', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-blobs-'));
  try {
    const b = new LocalBlobStore(dir);
    await b.put('tunes/1/images/0.jpg', Buffer.from('a'));
    await b.put('tunes/1/images/1.jpg', Buffer.from('b'));
    await b.put('tunes/2/images/0.jpg', Buffer.from('c'));
    assert.equal((await b.get('tunes/1/images/1.jpg'))?.toString(), 'b');
    assert.equal(await b.get('tunes/9/x.jpg'), undefined);
    await b.delete('tunes/1/images/0.jpg');
    assert.equal(await b.get('tunes/1/images/0.jpg'), undefined);
    await b.deletePrefix('tunes/1');
    assert.equal(await b.get('tunes/1/images/1.jpg'), undefined);
    assert.equal((await b.get('tunes/2/images/0.jpg'))?.toString(), 'c');
    assert.ok(!readdirSync(join(dir, 'tunes/2/images')).some((f) => f.endsWith('.tmp')));
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', 'a//b', 'a/./b'])
      await assert.rejects(b.put(bad, Buffer.from('x')), /unsafe/, bad);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
