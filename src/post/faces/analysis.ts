import type { RawImage } from '../types.ts';
import { clipBox } from './crop.ts';
import type { FaceBox } from './decode.ts';

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
 * (a face under ~1/25 of the image's long side at input 416) is not seen, so a very distant long shot may be
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

/** Detects faces in a decoded image and analyses them (the detector is passed in, so this loads nothing). */
export async function inspectFaces(
  detector: { detect(img: RawImage): Promise<ReadonlyArray<{ box: FaceBox; score: number }>> },
  image: RawImage,
  thresholds?: FaceAnalysisThresholds,
): Promise<FaceAnalysis> {
  return analyzeFaces(await detector.detect(image), image, thresholds);
}
