/**
 * JPEG inputs, decoded by jpeg-js (baseline and progressive DCT, 8-bit; grayscale, YCbCr with any
 * chroma subsampling, Adobe CMYK; restart markers). Lossless, hierarchical, arithmetic-coded and
 * 12-bit files, which jpeg-js does not read, are refused with INPUT_FORMAT_UNSUPPORTED before it is
 * asked; anything it cannot read is INPUT_INVALID.
 */
import jpeg from "jpeg-js";
import { OracleSdkError } from "./errors.js";
import { MAX_PIXELS, type RgbImage } from "./inputs.js";

const unsupported = (what: string) => new OracleSdkError("INPUT_FORMAT_UNSUPPORTED", `${what}; convert the picture to PNG or baseline JPEG`);
const invalid = (what: string) => new OracleSdkError("INPUT_INVALID", `not a readable JPEG: ${what}`);

/** The frame header (SOFn) of a JPEG: its coding process and sample precision; undefined if none comes before the image data. */
function frameHeader(d: Uint8Array): { process: number; precision: number } | undefined {
  let pos = 2;
  while (pos + 4 <= d.length && d[pos] === 0xff) {
    const marker = d[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { process: marker - 0xc0, precision: d[pos + 4] ?? 0 };
    if (marker === 0xda) return undefined; // scan before any frame header
    pos += 2 + ((d[pos + 2]! << 8) | d[pos + 3]!);
  }
  return undefined;
}

/** Decodes a JPEG to 8-bit RGB. */
export function decodeJpeg(bytes: Uint8Array): RgbImage {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw invalid("no SOI marker");
  const frame = frameHeader(bytes);
  if (frame === undefined) throw invalid("no frame header before the image data");
  if (frame.process > 2) throw unsupported(`JPEG process SOF${frame.process} (lossless, hierarchical or arithmetic coding) is not supported`);
  if (frame.precision !== 8) throw unsupported(`${frame.precision}-bit JPEG samples are not supported`);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (error) {
    throw invalid(error instanceof Error ? error.message : String(error));
  }
  if (image.width === 0 || image.height === 0) throw invalid("zero image size");
  return { width: image.width, height: image.height, rgb: image.data };
}
