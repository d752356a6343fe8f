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
// Left out, because nothing installed can compute them honestly (there is no face or person detector yet):
// selfie, includes_multiple_people, full_body_image_or_longshot, wearing_sunglasses, wearing_hat, funny_face, and
// the attributes (age, ethnicity, eye_color, hair_color, hair_length, glasses). Astria's own responses omit keys
// too; a client reading them gets `undefined`, never an invented value.
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
  'selfie',
  'includes_multiple_people',
  'full_body_image_or_longshot',
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

export interface InspectResult {
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

export async function inspectPhoto(name: string, buf: Buffer, limits: IntakeLimits): Promise<InspectResult> {
  const header = inspectImage(buf, limits); // size, format and bomb checks before any decode
  const grey = await greyForAnalysis(buf, limits);
  const score = laplacianVariance(grey);
  return {
    name,
    blurry: score < BLUR_THRESHOLD,
    low_resolution: Math.min(header.width, header.height) < LOW_RESOLUTION_MIN_SIDE,
    blur_score: Math.round(score * 100) / 100,
    blur_threshold: BLUR_THRESHOLD,
    width: header.width,
    height: header.height,
    format: header.format,
  };
}
