// Every uploaded or downloaded image passes through here before it is stored or used:
//   1. size cap on the bytes (413);
//   2. format sniffed from magic bytes — file names and content types are never trusted (415);
//   3. dimensions read from the container header WITHOUT decoding, so a tiny file that declares a huge canvas
//      (decompression bomb) is refused before any pixel buffer exists (413); sharp's `limitInputPixels` is set too;
//   4. a full decode with `failOn: 'error'`, so truncated or corrupt data fails instead of yielding grey pixels (422);
//   5. EXIF orientation applied, then everything else dropped: EXIF (incl. GPS), XMP, IPTC and the ICC profile, after
//      converting the pixels to sRGB; re-encoded in the format it came in.
// Header layouts: PNG IHDR (https://www.w3.org/TR/png-3/#11IHDR), JPEG SOFn (ITU-T T.81 §B.2.2),
// WebP VP8/VP8L/VP8X (https://developers.google.com/speed/webp/docs/riff_container, RFC 9649).
import sharp, { type SharpOptions } from 'sharp';

export type ImageFormat = 'jpeg' | 'png' | 'webp';
export interface IntakeLimits {
  maxBytes: number;
  maxPixels: number;
}
export interface NormalizedImage {
  data: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
}

export class ImageRejectedError extends Error {
  override name = 'ImageRejectedError';
  constructor(
    readonly status: 413 | 415 | 422,
    message: string,
  ) {
    super(message);
  }
}

export const IMAGE_MIME_TYPES: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};
export const IMAGE_EXTENSIONS: Record<ImageFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The format named by the file's first bytes, or null. Says nothing about whether the rest decodes. */
export function sniffImageFormat(buf: Buffer): ImageFormat | null {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (
    buf.length >= 12 &&
    buf.toString('latin1', 0, 4) === 'RIFF' &&
    buf.toString('latin1', 8, 12) === 'WEBP'
  ) {
    return 'webp';
  }
  return null;
}

/** Width and height declared by the container header (before EXIF orientation), or null if unreadable. */
export function readImageDimensions(
  buf: Buffer,
  format: ImageFormat,
): { width: number; height: number } | null {
  switch (format) {
    case 'png':
      return readPngDimensions(buf);
    case 'jpeg':
      return readJpegDimensions(buf);
    case 'webp':
      return readWebpDimensions(buf);
  }
}

function readPngDimensions(buf: Buffer): { width: number; height: number } | null {
  // signature(8) | length(4) | "IHDR" | width u32be | height u32be | …
  if (buf.length < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but do not. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpegDimensions(buf: Buffer): { width: number; height: number } | null {
  let pos = 2; // after SOI
  while (pos < buf.length) {
    if (buf[pos] !== 0xff) return null;
    while (pos < buf.length && buf[pos] === 0xff) pos += 1; // fill bytes
    if (pos >= buf.length) return null;
    const marker = buf[pos];
    pos += 1;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // TEM, RSTn: no length
    if (marker === 0xd9 || marker === 0xda) return null; // EOI or scan data before any frame header
    if (pos + 2 > buf.length) return null;
    const length = buf.readUInt16BE(pos);
    if (length < 2) return null;
    if (isStartOfFrame(marker)) {
      // length(2) | precision(1) | height u16be | width u16be
      if (pos + 7 > buf.length) return null;
      return { height: buf.readUInt16BE(pos + 3), width: buf.readUInt16BE(pos + 5) };
    }
    pos += length;
  }
  return null;
}

function readWebpDimensions(buf: Buffer): { width: number; height: number } | null {
  if (buf.length < 30) return null;
  const chunk = buf.toString('latin1', 12, 16);
  if (chunk === 'VP8X') {
    // flags(1) reserved(3) | canvas width−1 u24le | canvas height−1 u24le
    return { width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1 };
  }
  if (chunk === 'VP8 ') {
    // frame tag(3) | start code 9d 01 2a | width u16le (14 bits + 2 scale bits) | height u16le
    if (buf[23] !== 0x9d || buf[24] !== 0x01 || buf[25] !== 0x2a) return null;
    return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    // signature 0x2f | 14 bits width−1 | 14 bits height−1 | …, little-endian bit order
    if (buf[20] !== 0x2f) return null;
    const bits = buf.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  return null;
}

/** Decoder settings shared by every decode of untrusted bytes. */
export function decoderOptions(limits: IntakeLimits): SharpOptions {
  // 'error' aborts on truncated or corrupt pixel data but tolerates mere libjpeg warnings (e.g. stray bytes
  // before a marker), which real phone cameras produce; 'none' would hand back half-grey images.
  return { failOn: 'error', limitInputPixels: limits.maxPixels };
}

/** Checks an image without decoding it: size, format, declared dimensions. Throws ImageRejectedError. */
export function inspectImage(
  buf: Buffer,
  limits: IntakeLimits,
): { format: ImageFormat; width: number; height: number } {
  if (buf.length === 0) throw new ImageRejectedError(422, 'the image file is empty');
  if (buf.length > limits.maxBytes) {
    throw new ImageRejectedError(
      413,
      `the image is ${buf.length} bytes; the limit is ${limits.maxBytes} bytes`,
    );
  }
  const format = sniffImageFormat(buf);
  if (!format) throw new ImageRejectedError(415, 'not an image: expected JPEG, PNG or WebP data');
  const dims = readImageDimensions(buf, format);
  if (!dims || dims.width === 0 || dims.height === 0) {
    throw new ImageRejectedError(
      422,
      `the ${format.toUpperCase()} image could not be decoded: no valid header`,
    );
  }
  const pixels = dims.width * dims.height;
  if (pixels > limits.maxPixels) {
    throw new ImageRejectedError(
      413,
      `the image declares ${dims.width}×${dims.height} = ${pixels} pixels; the limit is ${limits.maxPixels} ` +
        '(refused before decoding, as a decompression-bomb guard)',
    );
  }
  return { format, ...dims };
}

export async function normalizeImage(buf: Buffer, limits: IntakeLimits): Promise<NormalizedImage> {
  const { format } = inspectImage(buf, limits);
  let pipeline = sharp(buf, decoderOptions(limits))
    .rotate() // EXIF orientation; the tag itself goes with the rest of the metadata
    .toColourspace('srgb');
  // Without keepMetadata()/withMetadata() sharp writes no EXIF, XMP, IPTC or ICC; the ICC-tagged input has
  // already been converted to sRGB, so the untagged output still means the same colours.
  if (format === 'jpeg') pipeline = pipeline.jpeg({ quality: 92 });
  else if (format === 'png') pipeline = pipeline.png({ compressionLevel: 6 });
  else pipeline = pipeline.webp({ quality: 92 });
  try {
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { data, format, width: info.width, height: info.height };
  } catch (e) {
    const reason = firstLine(e);
    if (/exceeds pixel limit/i.test(reason)) {
      throw new ImageRejectedError(413, `the image exceeds the limit of ${limits.maxPixels} pixels`);
    }
    throw new ImageRejectedError(422, `the ${format.toUpperCase()} image could not be decoded (${reason})`);
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? '').slice(0, 200);
}
