// Entry of the thread that embeds a faceid tune's training images (see embedFacesOffThread in faceid.ts):
// onnxruntime-node's session load and run are synchronous native calls, so on the API thread they would stall
// every other request for the whole embedding. Posts one embedding (or null: no face) per image, or the error.

import { parentPort, workerData } from 'node:worker_threads';
import { openFaceEmbedder } from '../post/faces/embedding.ts';

const port = parentPort;
if (!port) throw new Error('faceid-embed-worker.ts must run as a worker thread');
const { modelsDir, images } = workerData as { modelsDir: string; images: Uint8Array[] };

try {
  const embedder = await openFaceEmbedder(modelsDir);
  try {
    const embeddings: (Float32Array | null)[] = [];
    for (const img of images) {
      const face = await embedder.embedLargest(Buffer.from(img.buffer, img.byteOffset, img.byteLength));
      embeddings.push(face ? face.embedding : null);
    }
    port.postMessage({ embeddings, path: embedder.path });
  } finally {
    await embedder.dispose();
  }
} catch (e) {
  port.postMessage({ error: e instanceof Error ? e.message : String(e) });
}
