import { type RawImage, toUint8Image } from '../types.ts';
import { clipBox } from './crop.ts';
import { type FaceBox, nonMaxSuppression } from './decode.ts';
import { TINY_FACE_MEAN_RGB } from './model.ts';

/**
 * Face-derived fields of `POST /images/inspect` (CLIENTS.md 37), from face detections of one image.
 *
 * Measures (boxes clipped to the image; only detections with score ≥ `minScore` count):
 * - `face_count`: number of faces.
 * - `includes_multiple_people`: face_count ≥ 2.
 * - `selfie`: the largest face covers ≥ `selfieMinArea` (8 %) of the frame. A phone selfie at arm's length puts
 *   the face box at roughly 30–45 % of the frame's width and height (≈ 10–20 % of its area); the face-api sample
 *   group photos sit at 3–4 %, a head-and-shoulders portrait at 8–15 %. This is a framing test (a close-up of a
 *   face), not a test of who held the camera — nothing in a single image tells that.
 * - `full_body_image_or_longshot`: the largest face's height is ≤ `longshotMaxHeight` (12 %) of the frame's
 *   height. An adult is about 7.5 heads tall (the classical canon) and the detector's box covers about the
 *   eyebrow-to-chin part of the head, so a standing person filling the frame gives ≈ 8–11 %; a half-body shot
 *   is ≈ 20 %.
 *
 * With no face, `selfie` and `full_body_image_or_longshot` are false: a person too small for the detector
 * (a face under ~1/12 of the image's long side at input 416, ~1/16 at 608) is not seen, so a very distant long shot may be
 * reported as neither; `face_count` 0 says so.
 */
export interface FaceAnalysis {
  face_count: number;
  includes_multiple_people: boolean;
  selfie: boolean;
  full_body_image_or_longshot: boolean;
  /** Largest face: area / frame area and height / frame height (0 without a face), for transparency. */
  largest_face_area_fraction: number;
  largest_face_height_fraction: number;
}

export interface FaceAnalysisThresholds {
  minScore?: number;
  selfieMinArea?: number;
  longshotMaxHeight?: number;
}

/**
 * Input size of the small-face pass of inspection (long shots are about small faces): on a 1200² frame holding
 * four people ~600 px tall (faces ≈ 75–100 px), input 416 finds none and 608 all four.
 */
export const INSPECT_SMALL_FACE_INPUT = 608;
/** Input size of the main inspection passes (face-api's default). */
export const INSPECT_INPUT_SIZE = 416;

export const FACE_ANALYSIS_THRESHOLDS = {
  minScore: 0.5,
  selfieMinArea: 0.08,
  longshotMaxHeight: 0.12,
} as const;

export function analyzeFaces(
  detections: ReadonlyArray<{ box: FaceBox; score: number }>,
  image: { width: number; height: number },
  thresholds: FaceAnalysisThresholds = {},
): FaceAnalysis {
  const t = { ...FACE_ANALYSIS_THRESHOLDS, ...thresholds };
  const faces = detections
    .filter((d) => d.score >= t.minScore)
    .map((d) => clipBox(d.box, image.width, image.height))
    .filter((b): b is FaceBox => b !== null);
  let area = 0;
  let heightFraction = 0;
  for (const b of faces) {
    const a = (b.w * b.h) / (image.width * image.height);
    if (a > area) {
      area = a;
      heightFraction = b.h / image.height;
    }
  }
  const any = faces.length > 0;
  return {
    face_count: faces.length,
    includes_multiple_people: faces.length >= 2,
    selfie: any && area >= t.selfieMinArea,
    full_body_image_or_longshot: any && heightFraction <= t.longshotMaxHeight,
    largest_face_area_fraction: area,
    largest_face_height_fraction: heightFraction,
  };
}

type Detections = ReadonlyArray<{ box: FaceBox; score: number }>;
interface Detects {
  detect(img: RawImage): Promise<Detections>;
}

/** The image centred in a canvas `factor` times its size, filled with the detector's mean colour (input 0). */
export function zoomOut(
  image: RawImage,
  factor: number,
): { image: RawImage & { data: Uint8Array }; dx: number; dy: number } {
  const rgb = toUint8Image(image);
  const { width: w, height: h, channels } = rgb;
  const W = Math.round(w * factor);
  const H = Math.round(h * factor);
  const dx = Math.floor((W - w) / 2);
  const dy = Math.floor((H - h) / 2);
  const out = new Uint8Array(W * H * channels);
  const fill = channels >= 3 ? TINY_FACE_MEAN_RGB.map(Math.round) : [Math.round(TINY_FACE_MEAN_RGB[1])];
  for (let p = 0; p < W * H; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = fill[c] ?? 255;
  for (let y = 0; y < h; y++)
    out.set(rgb.data.subarray(y * w * channels, (y + 1) * w * channels), ((y + dy) * W + dx) * channels);
  return { image: { data: out, width: W, height: H, channels }, dx, dy };
}

/**
 * Detection for inspection, three passes merged by NMS:
 * - the image as is (input 416);
 * - the image zoomed out ×2 (centred in a mean-colour canvas): the tiny detector misses many faces that fill most
 *   of the frame (its largest anchor is ~9 of 13 cells); on square crops around the 20 faces it finds in
 *   face-api's sample photos, a face spanning ~62 % of the crop is found 15 times in 20 directly, 20 with this
 *   pass (docs/faces.md);
 * - when `small` is given (a detector at input 608), its faces no taller than `smallMaxHeight` of the frame:
 *   at 416 a face under ~1/10 of the frame is rarely found, which is what a long shot looks like; larger boxes
 *   from this pass are dropped because 608 adds false positives on the sample group photos.
 */
export async function detectForInspection(
  detector: Detects,
  image: RawImage,
  opts: { small?: Detects; smallMaxHeight?: number; iouThreshold?: number } = {},
): Promise<Detections> {
  const direct = await detector.detect(image);
  const z = zoomOut(image, 2);
  const far = (await detector.detect(z.image)).map((d) => ({
    score: d.score,
    box: { x: d.box.x - z.dx, y: d.box.y - z.dy, w: d.box.w, h: d.box.h },
  }));
  const maxH = (opts.smallMaxHeight ?? FACE_ANALYSIS_THRESHOLDS.longshotMaxHeight) * image.height;
  const small = opts.small ? (await opts.small.detect(image)).filter((d) => d.box.h <= maxH) : [];
  const all = [...direct, ...far, ...small];
  const keep = nonMaxSuppression(
    all.map((d) => d.box),
    all.map((d) => d.score),
    opts.iouThreshold ?? 0.4,
  );
  return keep.map((i) => all[i]);
}

/**
 * Detects faces in a decoded image (see detectForInspection) and analyses them. Loads nothing itself: pass
 * `sharedFaceDetector()` and, for long shots, `sharedFaceDetector(INSPECT_SMALL_FACE_INPUT)`.
 */
export async function inspectFaces(
  detector: Detects,
  image: RawImage,
  opts: { small?: Detects; thresholds?: FaceAnalysisThresholds } = {},
): Promise<FaceAnalysis> {
  const dets = await detectForInspection(detector, image, {
    small: opts.small,
    smallMaxHeight: opts.thresholds?.longshotMaxHeight,
  });
  return analyzeFaces(dets, image, opts.thresholds);
}
