// POST /images/inspect (CLIENTS.md item 37): what can honestly be measured from the pixels of one image.
//
//  - blurry: variance of the Laplacian of a grey copy downscaled to at most ANALYSIS_SIZE px on its long side
//    (the focus measure of Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy: a comparative
//    study", ICPR 2000; the 4-neighbour kernel [0 1 0; 1 −4 1; 0 1 0]). Sharp edges give large second derivatives,
//    so a low variance means few edges: out of focus, motion-blurred, or upscaled. Below BLUR_THRESHOLD = blurry.
//    The threshold is an empirical cut-off for 8-bit grey levels at this analysis size; the variance is scale
//    dependent, which is why the image is first brought to a fixed size.
//  - low_resolution: the short side is under LOW_RESOLUTION_MIN_SIDE (SD 1.5 trains at 512², so a smaller
//    training photo gets upscaled and its blur is learnt).
//
//  - includes_multiple_people, selfie, full_body_image_or_longshot (+ ext face_count): from real face detections
//    (src/post/faces: face-api's tiny face detector on onnxruntime, thresholds and their reasoning in
//    analysis.ts). When the detector cannot start, these keys are left out rather than guessed.
//
// Left out, because nothing installed can compute them honestly (the tiny detector gives boxes only: no landmarks,
// no attributes): wearing_sunglasses, wearing_hat, funny_face, and the attributes (age, ethnicity, eye_color,
// hair_color, hair_length, glasses). Astria's own responses omit keys too; a client reading them gets `undefined`,
// never an invented value.
import sharp from 'sharp';
import {
  decoderOptions,
  ImageRejectedError,
  type IntakeLimits,
  inspectImage,
} from '../blobs/image-intake.ts';

export const ANALYSIS_SIZE = 512;
export const BLUR_THRESHOLD = 100;
export const LOW_RESOLUTION_MIN_SIDE = 512;

/** Keys of Astria's inspect response that Atelier never returns until a detector can compute them. */
export const OMITTED_FIELDS = [
  'wearing_sunglasses',
  'wearing_hat',
  'funny_face',
  'age',
  'ethnicity',
  'eye_color',
  'hair_color',
  'hair_length',
  'glasses',
] as const;

export interface GreyImage {
  width: number;
  height: number;
  /** one byte per pixel, row-major */
  data: Uint8Array;
}

/** Variance of the 4-neighbour Laplacian over the interior pixels (borders have no full neighbourhood). */
export function laplacianVariance(img: GreyImage): number {
  const { width: w, height: h, data } = img;
  if (w < 3 || h < 3) return 0;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    const row = y * w;
    for (let x = 1; x < w - 1; x++) {
      const i = row + x;
      const l = data[i - w] + data[i + w] + data[i - 1] + data[i + 1] - 4 * data[i];
      sum += l;
      sumSq += l * l;
      n++;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/** Decode (EXIF orientation applied, alpha flattened on white), grey, downscale to the analysis size. */
export async function greyForAnalysis(buf: Buffer, limits: IntakeLimits): Promise<GreyImage> {
  try {
    const { data, info } = await sharp(buf, decoderOptions(limits))
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize({ width: ANALYSIS_SIZE, height: ANALYSIS_SIZE, fit: 'inside', withoutEnlargement: true })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    // greyscale() of a flattened image is one channel; take the first of each pixel in case sharp kept more.
    const grey = new Uint8Array(info.width * info.height);
    for (let i = 0; i < grey.length; i++) grey[i] = data[i * info.channels];
    return { width: info.width, height: info.height, data: grey };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new ImageRejectedError(422, `the image could not be decoded (${msg})`);
  }
}

/** The face-derived fields, from real detections. */
export interface FaceFields {
  face_count: number;
  includes_multiple_people: boolean;
  selfie: boolean;
  full_body_image_or_longshot: boolean;
}

/** Detects faces in the image and derives the fields; null when no detector is available. */
export type FaceInspector = (buf: Buffer) => Promise<FaceFields | null>;

/** Long side of the copy the detector sees: twice its 608-px input, so small faces keep their pixels. */
const FACE_DECODE_SIZE = 1216;

/**
 * The installed detector (src/post/faces), loaded on first use so that onnxruntime is imported only when an image is
 * inspected. The fractions it reports are relative to the frame, so a downscaled copy gives the same answers.
 */
export const detectFaceFields: FaceInspector = async (buf) => {
  const { sharedFaceDetector } = await import('../post/faces/detector.ts');
  const { inspectFaces, INSPECT_INPUT_SIZE, INSPECT_SMALL_FACE_INPUT } = await import(
    '../post/faces/analysis.ts'
  );
  const detector = await sharedFaceDetector(INSPECT_INPUT_SIZE);
  const small = await sharedFaceDetector(INSPECT_SMALL_FACE_INPUT);
  const { data, info } = await sharp(buf)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .resize({ width: FACE_DECODE_SIZE, height: FACE_DECODE_SIZE, fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const image = {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: 3 as const,
  };
  // Direct pass + a zoomed-out pass for close-ups + small faces from the 608 input (docs/faces.md).
  const a = await inspectFaces(detector, image, { small });
  return {
    face_count: a.face_count,
    includes_multiple_people: a.includes_multiple_people,
    selfie: a.selfie,
    full_body_image_or_longshot: a.full_body_image_or_longshot,
  };
};

export interface InspectResult extends Partial<FaceFields> {
  name: string;
  blurry: boolean;
  low_resolution: boolean;
  /** (ext) the measurements behind the booleans */
  blur_score: number;
  blur_threshold: number;
  width: number;
  height: number;
  format: string;
}

export async function inspectPhoto(
  name: string,
  buf: Buffer,
  limits: IntakeLimits,
  faces?: FaceInspector,
): Promise<InspectResult> {
  const header = inspectImage(buf, limits); // size, format and bomb checks before any decode
  const grey = await greyForAnalysis(buf, limits);
  const score = laplacianVariance(grey);
  const faceFields = faces ? await faces(buf) : null;
  return {
    name,
    ...faceFields,
    blurry: score < BLUR_THRESHOLD,
    low_resolution: Math.min(header.width, header.height) < LOW_RESOLUTION_MIN_SIDE,
    blur_score: Math.round(score * 100) / 100,
    blur_threshold: BLUR_THRESHOLD,
    width: header.width,
    height: header.height,
    format: header.format,
  };
}
