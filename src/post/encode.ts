import sharp, { type Sharp } from 'sharp';
import { assertImageShape, type RawImage, toUint8Image } from './types.ts';

/**
 * Final encoding of generated images. JPEG by default; PNG or WebP on request.
 *
 * No metadata is written: sharp drops EXIF, XMP, IPTC and ICC unless `keepMetadata`/`withMetadata` is called,
 * which this module never does, so prompts, seeds or other generation parameters cannot leak into files.
 */
export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface EncodeOptions {
  format?: OutputFormat;
  /** JPEG/WebP quality 1–100 (default 90); ignored for PNG (lossless). */
  quality?: number;
}

export interface EncodedImage {
  data: Buffer;
  format: OutputFormat;
  contentType: string;
  extension: string;
  width: number;
  height: number;
}

const CONTENT_TYPES: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};
const EXTENSIONS: Record<OutputFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

export function isOutputFormat(v: unknown): v is OutputFormat {
  return typeof v === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(v);
}

function toSharp(img: RawImage): Sharp {
  assertImageShape(img);
  const u8 = toUint8Image(img).data;
  return sharp(u8, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

async function encodePipeline(pipeline: Sharp, format: OutputFormat, quality: number): Promise<EncodedImage> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(`quality must be an integer 1–100, got ${quality}`);
  }
  if (format === 'jpeg') {
    // JPEG has no alpha: composite onto white rather than letting transparent pixels turn black.
    pipeline = pipeline.flatten({ background: '#ffffff' }).jpeg({ quality, mozjpeg: true });
  } else if (format === 'png') pipeline = pipeline.png({ compressionLevel: 9 });
  else pipeline = pipeline.webp({ quality });
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  return {
    data,
    format,
    contentType: CONTENT_TYPES[format],
    extension: EXTENSIONS[format],
    width: info.width,
    height: info.height,
  };
}

export async function encodeImage(img: RawImage, opts: EncodeOptions = {}): Promise<EncodedImage> {
  const format = opts.format ?? 'jpeg';
  if (!isOutputFormat(format)) throw new RangeError(`unsupported output format ${String(format)}`);
  return encodePipeline(toSharp(img), format, opts.quality ?? 90);
}

export interface ThumbnailOptions {
  /** Longest side in pixels (default 256); images already smaller are not enlarged. */
  maxSide?: number;
  format?: OutputFormat;
  quality?: number;
}

/** A small preview for the dashboard: fitted inside maxSide × maxSide, aspect ratio kept (Lanczos-3). */
export async function makeThumbnail(img: RawImage, opts: ThumbnailOptions = {}): Promise<EncodedImage> {
  const maxSide = opts.maxSide ?? 256;
  if (!Number.isInteger(maxSide) || maxSide < 1) throw new RangeError(`maxSide must be a positive integer`);
  const pipeline = toSharp(img).resize({
    width: maxSide,
    height: maxSide,
    fit: 'inside',
    withoutEnlargement: true,
    kernel: 'lanczos3',
  });
  return encodePipeline(pipeline, opts.format ?? 'webp', opts.quality ?? 80);
}
