// The BlobStore contract, run against every implementation (blobs.test.ts): round trip of binary data, overwrite,
// absent keys, delete, deletePrefix (only that prefix, not its siblings with a common string start, and more keys
// than one listing page), and refusal of unsafe keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { BlobStore } from '../../src/blobs/blob-store.ts';

export interface BlobsImplementation {
  name: string;
  skip?: string;
  open(): Promise<{ store: BlobStore; close(): Promise<void> }>;
}

export function blobsConformance(impl: BlobsImplementation): void {
  describe(`BlobStore conformance: ${impl.name}`, { skip: impl.skip }, () => {
    let b: BlobStore;
    let close: () => Promise<void>;
    before(async () => {
      ({ store: b, close } = await impl.open());
    });
    after(() => close?.());

    test('binary data round-trips byte for byte; a second put replaces it', async () => {
      const data = randomBytes(70_000);
      await b.put('tunes/1/images/0.jpg', data);
      assert.ok((await b.get('tunes/1/images/0.jpg'))?.equals(data));
      await b.put('tunes/1/images/0.jpg', Buffer.from('second'));
      assert.equal((await b.get('tunes/1/images/0.jpg'))?.toString(), 'second');
      const empty = Buffer.alloc(0);
      await b.put('tunes/1/empty.bin', empty);
      assert.equal((await b.get('tunes/1/empty.bin'))?.length, 0);
    });

    test('absent keys read as undefined; delete is idempotent', async () => {
      assert.equal(await b.get('prompts/404/none.jpg'), undefined);
      await b.put('prompts/5/a.jpg', Buffer.from('a'));
      await b.delete('prompts/5/a.jpg');
      assert.equal(await b.get('prompts/5/a.jpg'), undefined);
      await b.delete('prompts/5/a.jpg');
    });

    test('deletePrefix removes that folder only, however many keys it holds', async () => {
      const keys = Array.from({ length: 30 }, (_, i) => `tunes/7/images/${i}.jpg`);
      await Promise.all(keys.map((k) => b.put(k, Buffer.from(k))));
      await b.put('tunes/7/weights.safetensors', Buffer.from('w'));
      await b.put('tunes/70/images/0.jpg', Buffer.from('sibling'));
      await b.put('tunes/8/images/0.jpg', Buffer.from('other'));
      await b.deletePrefix('tunes/7');
      for (const k of [...keys, 'tunes/7/weights.safetensors']) assert.equal(await b.get(k), undefined, k);
      assert.equal((await b.get('tunes/70/images/0.jpg'))?.toString(), 'sibling');
      assert.equal((await b.get('tunes/8/images/0.jpg'))?.toString(), 'other');
      await b.deletePrefix('tunes/does-not-exist');
    });

    test('unsafe keys are refused before any I/O', async () => {
      for (const bad of ['../x', '/etc/passwd', 'a/../../b', 'a//b', 'a/./b', 'a b', 'a?x=1'])
        await assert.rejects(b.put(bad, Buffer.from('x')), /unsafe/, bad);
      await assert.rejects(b.get('../x'), /unsafe/);
      await assert.rejects(b.deletePrefix('..'), /unsafe/);
    });
  });
}
