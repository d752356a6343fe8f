// Reference execution: face-api ITSELF (its Node build from the same npm package) running the same weights on
// TensorFlow.js's pure-JS CPU backend, through its public API: `nets.tinyFaceDetector.forward` (raw grid) and
// `detectAllFaces(tensor, new TinyFaceDetectorOptions())` (its own padding, resize, decoding and NMS).
//
// face-api's `face-api.node-wasm.js` build `require`s @tensorflow/tfjs-backend-wasm, which is not installed (and
// not needed: we select the 'cpu' backend). That one require is answered with an empty stand-in while the build
// loads; nothing else is replaced.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { faceApiRoot } from '../../../../src/post/faces/model.ts';
import type { RawImage } from '../../../../src/post/types.ts';

const require = createRequire(import.meta.url);

interface Tensor {
  data(): Promise<Float32Array>;
  shape: number[];
  dispose(): void;
}
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor3d(data: Int32Array, shape: number[], dtype: 'int32'): Tensor;
}
interface FaceApi {
  nets: {
    tinyFaceDetector: {
      loadFromDisk(dir: string): Promise<void>;
      forward(input: Tensor, inputSize: number): Promise<Tensor>;
    };
  };
  TinyFaceDetectorOptions: new (o: { inputSize?: number; scoreThreshold?: number }) => unknown;
  detectAllFaces(
    input: Tensor,
    options: unknown,
  ): Promise<Array<{ score: number; box: { x: number; y: number; width: number; height: number } }>>;
}

let loaded: Promise<{ tf: Tf; faceapi: FaceApi }> | null = null;

function loadFaceApi(): Promise<{ tf: Tf; faceapi: FaceApi }> {
  loaded ??= (async () => {
    const Module = require('node:module') as { prototype: { require: (id: string) => unknown } };
    const original = Module.prototype.require;
    Module.prototype.require = function (this: unknown, id: string) {
      if (id === '@tensorflow/tfjs-backend-wasm') return { setWasmPaths() {} };
      return original.call(this, id);
    };
    let faceapi: FaceApi;
    try {
      faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    } finally {
      Module.prototype.require = original;
    }
    const tf = require('@tensorflow/tfjs') as Tf;
    await tf.setBackend('cpu');
    await tf.ready();
    await faceapi.nets.tinyFaceDetector.loadFromDisk(join(faceApiRoot(), 'model'));
    return { tf, faceapi };
  })();
  return loaded;
}

function toTensor(tf: Tf, img: RawImage & { data: Uint8Array }): Tensor {
  if (img.channels !== 3) throw new Error('reference takes 8-bit RGB');
  return tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
}

/** face-api's raw network output for the image, [G, G, 25] flattened (NHWC). */
export async function referenceGrid(
  img: RawImage & { data: Uint8Array },
  inputSize: number,
): Promise<Float32Array> {
  const { tf, faceapi } = await loadFaceApi();
  const t = toTensor(tf, img);
  try {
    const out = await faceapi.nets.tinyFaceDetector.forward(t, inputSize);
    const data = await out.data();
    out.dispose();
    return data;
  } finally {
    t.dispose();
  }
}

/** face-api's detections, boxes in pixels. */
export async function referenceDetect(
  img: RawImage & { data: Uint8Array },
  inputSize: number,
  scoreThreshold: number,
): Promise<Array<{ score: number; box: { x: number; y: number; w: number; h: number } }>> {
  const { tf, faceapi } = await loadFaceApi();
  const t = toTensor(tf, img);
  try {
    const dets = await faceapi.detectAllFaces(
      t,
      new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold }),
    );
    return dets.map((d) => ({
      score: d.score,
      box: { x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height },
    }));
  } finally {
    t.dispose();
  }
}
