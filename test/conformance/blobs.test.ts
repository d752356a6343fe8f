// Runs the BlobStore contract (blobs.case.ts) on the local directory store and on the S3 store against a real
// S3-compatible server (s3rver) started here on loopback with a temp directory.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import S3rver from 's3rver';
import { LocalBlobStore } from '../../src/blobs/local-blob-store.ts';
import { S3BlobStore } from '../../src/blobs/s3-blob-store.ts';
import { blobsConformance } from './blobs.case.ts';

blobsConformance({
  name: 'local directory',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'atelier-blobconf-'));
    return {
      store: new LocalBlobStore(dir),
      close: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});

blobsConformance({
  name: 'S3 (s3rver)',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'atelier-s3rver-'));
    const server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: 'atelier-test', configs: [] }],
    });
    const addr = (await server.run()) as AddressInfo;
    const store = new S3BlobStore({
      endpoint: `http://127.0.0.1:${addr.port}`,
      bucket: 'atelier-test',
      region: 'us-east-1',
      accessKeyId: 'S3RVER', // s3rver's fixed credentials: it verifies the V4 signature against them
      secretAccessKey: 'S3RVER',
      prefix: 'conformance',
      pageSize: 7, // deletePrefix of 31 keys then takes several list+delete rounds
    });
    return {
      store,
      async close() {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

test('S3: a request with unknown credentials is refused (the store surfaces the 403)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: 'atelier-test', configs: [] }],
  });
  const addr = (await server.run()) as AddressInfo;
  try {
    const store = new S3BlobStore({
      endpoint: `http://127.0.0.1:${addr.port}`,
      bucket: 'atelier-test',
      region: 'us-east-1',
      // s3rver checks the access key id but does not verify V4 signatures, so an unknown key is the refusal to test
      accessKeyId: 'NOT-A-KEY',
      secretAccessKey: 'S3RVER',
    });
    await assert.rejects(store.put('a/b.jpg', Buffer.from('x')), /403/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
