// The faceid trainer embeds on a thread of its own (onnxruntime-node runs sessions synchronously on the calling
// thread): the thread must give exactly the in-process embeddings, null for an image without a face, and its
// errors must reach the caller.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { arcfacePath, openFaceEmbedder } from '../../../src/post/faces/embedding.ts';
import { embedFacesOffThread } from '../../../src/train/faceid.ts';
import { writeTinyArcface } from '../../helpers/tiny-arcface.ts';
import { samplePhotoPath } from '../post/faces/images.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-faceid-thread-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('embeddings from the thread equal the in-process ones; no face is null', async () => {
  writeTinyArcface(arcfacePath(dir));
  const face = await sharp(samplePhotoPath(1)).resize({ width: 480 }).jpeg().toBuffer();
  const blank = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  const got = await embedFacesOffThread(dir, [face, blank]);
  assert.equal(got.path, arcfacePath(dir));
  assert.equal(got.embeddings.length, 2);
  assert.equal(got.embeddings[1], null);
  const e = await openFaceEmbedder(dir);
  try {
    const want = await e.embedLargest(face);
    assert.ok(want && got.embeddings[0]);
    assert.deepEqual([...got.embeddings[0]], [...want.embedding]);
  } finally {
    await e.dispose();
  }
});

test('an error in the thread rejects with its message', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'atelier-faceid-thread-none-'));
  try {
    await assert.rejects(embedFacesOffThread(empty, [Buffer.from('x')]), /arcface\.onnx/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
