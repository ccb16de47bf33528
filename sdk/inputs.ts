/**
 * Reading inputs the way dApp developers have them: NumPy .npy files, JSON (nested arrays or
 * {dtype, shape, data}), and PNG images for the image models (preprocessed as the model's card says,
 * see models.ts; PNG and JPEG decoding by fast-png and jpeg-js). Everything ends as a protocol Tensor checked against the model's input spec.
 */
import { inflateSync } from "node:zlib";
import { convertIndexedToRgb, decode as decodePngFile, encode as encodePngFile, type DecodedPng } from "fast-png";
import { checkSpec, DTYPES, numel, type DType, type Tensor, type TensorData, type TensorSpec } from "../protocol/tensor.js";
import { OracleSdkError } from "./errors.js";

const invalid = (message: string, details: Record<string, unknown> = {}) => new OracleSdkError("INPUT_INVALID", message, { details });

// ------------------------------------------------------------------------------------------ .npy

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const NPY_DESCR: Record<string, DType> = {
  f4: "float32", f8: "float64", f2: "float16", u1: "uint8", i1: "int8", b1: "bool", i2: "int16", u2: "uint16",
  i4: "int32", u4: "uint32", i8: "int64", u8: "uint64",
};
const DESCR_OF: Record<DType, string> = {
  float32: "<f4", float64: "<f8", float16: "<f2", uint8: "|u1", int8: "|i1", bool: "|b1", int16: "<i2", uint16: "<u2",
  int32: "<i4", uint32: "<u4", int64: "<i8", uint64: "<u8",
};

/** Parses a NumPy .npy file (format 1.0-3.0, C order, little-endian or single-byte types). */
export function readNpy(bytes: Uint8Array): Tensor {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) throw invalid("not a .npy file (no \\x93NUMPY magic)");
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.byteLength) throw invalid(".npy header is truncated");
  const header = buf.subarray(start, start + headerLen).toString("latin1");
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (descr === null || fortran === null || shapeMatch === null) throw invalid(`.npy header not understood: ${header.trim().slice(0, 120)}`);
  const dtype = NPY_DESCR[descr[2]!];
  if (dtype === undefined) throw invalid(`.npy dtype ${descr[1]}${descr[2]} is not a protocol dtype`, { supported: Object.values(DESCR_OF) });
  if (descr[1] === ">" && DTYPES[dtype].size > 1) throw invalid(".npy data is big-endian; save it little-endian (arr.astype('<f4'))");
  if (fortran[1] === "True") throw invalid(".npy data is in Fortran order; save it with np.ascontiguousarray");
  const shape = shapeMatch[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  const size = DTYPES[dtype].size;
  const dataBytes = numel(shape) * size;
  const offset = start + headerLen;
  if (buf.byteLength - offset !== dataBytes) throw invalid(`.npy ${dtype}[${shape}] needs ${dataBytes} data bytes, the file has ${buf.byteLength - offset}`);
  const aligned = new Uint8Array(dataBytes);
  aligned.set(buf.subarray(offset));
  const Ctor = DTYPES[dtype].array;
  return { dtype, shape, data: new Ctor(aligned.buffer, 0, dataBytes / size) as TensorData };
}

/** Writes a tensor as a NumPy .npy file (format 1.0). */
export function writeNpy(tensor: Tensor): Buffer {
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(", ")})`;
  let header = `{'descr': '${DESCR_OF[tensor.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += " ".repeat(pad === 64 ? 0 : pad) + "\n";
  const pre = Buffer.alloc(10);
  NPY_MAGIC.copy(pre);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  return Buffer.concat([pre, Buffer.from(header, "latin1"), Buffer.from(d.buffer, d.byteOffset, d.byteLength)]);
}

// ------------------------------------------------------------------------------------------ JSON

/**
 * A tensor from JSON: `{"dtype": "float32", "shape": [1, 4], "data": [...]}` (data flat or nested),
 * or plain nested arrays (`[[0.1, 0.2]]`), whose dtype is the model's (`fallbackDtype`).
 */
export function tensorFromJson(value: unknown, fallbackDtype?: DType): Tensor {
  let dtype = fallbackDtype;
  let shape: number[] | undefined;
  let data: unknown = value;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const o = value as { dtype?: unknown; shape?: unknown; data?: unknown };
    if (o.dtype !== undefined) {
      if (typeof o.dtype !== "string" || !(o.dtype in DTYPES)) throw invalid(`unknown dtype ${JSON.stringify(o.dtype)}`, { supported: Object.keys(DTYPES) });
      dtype = o.dtype as DType;
    }
    if (o.shape !== undefined) {
      if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && d >= 0)) throw invalid("shape must be an array of non-negative integers");
      shape = o.shape as number[];
    }
    data = o.data;
    if (data === undefined) throw invalid('a JSON tensor object needs "data"');
  }
  const nestedShape: number[] = [];
  for (let v: unknown = data; Array.isArray(v); v = v[0]) nestedShape.push(v.length);
  const flat = Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
  shape ??= nestedShape;
  if (dtype === undefined) throw invalid('the JSON names no "dtype" and none was given: pass one (tensorFromJson(json, "float32")) or write {"dtype", "shape", "data"}', { supported: Object.keys(DTYPES) });
  if (flat.length !== numel(shape)) throw invalid(`shape [${shape}] needs ${numel(shape)} values, the JSON has ${flat.length}`);
  return { dtype, shape, data: fillTyped(dtype, flat) };
}

function fillTyped(dtype: DType, values: readonly unknown[]): TensorData {
  const out = new DTYPES[dtype].array(values.length) as TensorData;
  const big = dtype === "int64" || dtype === "uint64";
  values.forEach((v, i) => {
    if (typeof v === "boolean") v = v ? 1 : 0;
    if (typeof v !== "number" && !(big && (typeof v === "string" || typeof v === "bigint"))) throw invalid(`value ${i} (${JSON.stringify(v)}) is not a number`);
    if (big) (out as BigInt64Array)[i] = BigInt(v as number | string | bigint);
    else (out as Float32Array)[i] = Number(v);
  });
  return out;
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  uint8: [0, 255], int8: [-128, 127], bool: [0, 1], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
};

/**
 * Fits a tensor to a model's input spec: converts the dtype when every value is representable (a
 * float64 .npy for a float32 model; integers for an int8 model), adds a leading batch dimension of 1
 * when one is missing, then checks the spec (INPUT_INVALID with the expected spec otherwise).
 */
export function fitToSpec(tensor: Tensor, spec: TensorSpec, what = "the input"): Tensor {
  let t = tensor;
  if (t.dtype !== spec.dtype) {
    if (spec.dtype === "float16") throw invalid(`the model expects float16; give the input as float16 (.npy '<f2')`);
    const values = Array.from(t.data as ArrayLike<number | bigint>, Number);
    const range = INT_RANGE[spec.dtype];
    if (range !== undefined || spec.dtype === "int64" || spec.dtype === "uint64") {
      const bad = values.findIndex((v) => !Number.isInteger(v) || (range !== undefined && (v < range[0] || v > range[1])));
      if (bad >= 0) throw invalid(`value ${bad} (${values[bad]}) does not fit the model's ${spec.dtype} input`, { expected: spec });
    }
    t = { dtype: spec.dtype, shape: t.shape, data: fillTyped(spec.dtype, values) };
  }
  if (t.shape.length === spec.shape.length - 1 && (spec.shape[0] === 1 || spec.shape[0] === 0)) t = { ...t, shape: [1, ...t.shape] };
  try {
    checkSpec(t, spec, what);
  } catch (error) {
    // The whole shapes, not only the first dimension that differs.
    const dims = (shape: readonly number[]) => shape.map((d) => (d === 0 ? "*" : d)).join(",");
    throw invalid(`${(error as Error).message} (${what} is ${t.dtype}[${dims(t.shape)}]; the model takes ${spec.dtype}[${dims(spec.shape)}])`, { expected: spec, actual: { dtype: t.dtype, shape: t.shape } });
  }
  return t;
}

// ------------------------------------------------------------------------------------------ PNG

/** An 8-bit RGB image (alpha composited onto white). */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  rgb: Uint8Array;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function isPng(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(PNG_SIGNATURE);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** The largest image (pixels) the SDK decodes, PNG or JPEG. */
export const MAX_PIXELS = 64 * 1024 * 1024;

/**
 * Refuses, before the decoder inflates anything, a PNG larger than MAX_PIXELS, one fast-png misreads, or whose image data
 * inflates beyond what its header declares (a few KB of IDAT must not inflate to gigabytes):
 * fast-png inflates without a cap, so the image data is first inflated here with one.
 */
function checkPngBounds(buf: Buffer): void {
  let limit = -1;
  const idat: Buffer[] = [];
  for (let pos = 8; pos + 8 <= buf.byteLength; ) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (body.byteLength !== len) throw invalid("PNG chunk is truncated");
    if (type === "IHDR" && len >= 13) {
      const width = body.readUInt32BE(0), height = body.readUInt32BE(4);
      if (width * height > MAX_PIXELS) throw invalid(`PNG is too large (${width}x${height})`);
      // fast-png 8.0's Adam7 decoder assumes whole bytes per pixel.
      if (body[12] === 1 && body[8]! < 8) throw new OracleSdkError("INPUT_FORMAT_UNSUPPORTED", `interlaced PNGs of ${body[8]}-bit samples are not supported; save it without interlacing or with 8-bit samples`);
      const bitsPerPixel = (PNG_CHANNELS[body[9]!] ?? 4) * body[8]!;
      // Every row of every Adam7 pass (at most 2 * height + 7 rows) adds a filter byte and a partial byte.
      limit = Math.ceil((width * height * bitsPerPixel) / 8) + 2 * (2 * height + 7);
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  if (limit < 0) throw invalid("PNG has no IHDR");
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(1, limit) });
  } catch (error) {
    throw invalid(`PNG image data does not inflate within its declared size: ${(error as Error).message}`);
  }
}

/** Decodes a PNG (fast-png: any color type, bit depths 1-16, interlaced or not) to 8-bit RGB, alpha composited onto white. */
export function decodePng(bytes: Uint8Array): RgbImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isPng(buf)) throw invalid("not a PNG file");
  checkPngBounds(buf);
  let png: DecodedPng;
  let indexed: Uint8Array | undefined;
  try {
    png = decodePngFile(buf, { checkCrc: true });
    if (png.palette !== undefined) indexed = convertIndexedToRgb(png);
  } catch (error) {
    throw invalid(`PNG does not decode: ${(error as Error).message}`);
  }
  const { width, height, depth, channels, data } = png;
  const rowSamples = width * channels;
  const rowBytes = Math.ceil((rowSamples * depth) / 8);
  const level = (y: number, i: number): number => {
    // The i-th sample of row y, scaled to 8 bits.
    if (depth === 16) return data[y * rowSamples + i]! >> 8;
    if (depth === 8) return data[y * rowSamples + i]!;
    const byte = data[y * rowBytes + ((i * depth) >> 3)]!;
    const v = (byte >> (8 - depth - ((i * depth) & 7))) & ((1 << depth) - 1);
    return Math.round((v * 255) / ((1 << depth) - 1));
  };
  const paletteChannels = png.palette?.[0]?.length ?? 3;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r: number, g: number, b: number, alpha = 255;
      if (indexed !== undefined) {
        const p = (y * width + x) * paletteChannels;
        [r, g, b] = [indexed[p]!, indexed[p + 1]!, indexed[p + 2]!];
        if (paletteChannels === 4) alpha = indexed[p + 3]!;
      } else if (channels <= 2) {
        r = g = b = level(y, x * channels);
        if (channels === 2) alpha = level(y, x * 2 + 1);
      } else {
        r = level(y, x * channels);
        g = level(y, x * channels + 1);
        b = level(y, x * channels + 2);
        if (channels === 4) alpha = level(y, x * 4 + 3);
      }
      const o = 3 * (y * width + x);
      const over = (v: number) => Math.round((v * alpha + 255 * (255 - alpha)) / 255);
      rgb[o] = over(r);
      rgb[o + 1] = over(g);
      rgb[o + 2] = over(b);
    }
  }
  return { width, height, rgb };
}

/** Encodes an 8-bit gray (channels 1) or RGB (channels 3) image as PNG. */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 1 | 3): Buffer {
  if (pixels.byteLength !== width * height * channels) throw invalid(`${width}x${height}x${channels} needs ${width * height * channels} bytes`);
  const png = encodePngFile({ width, height, data: pixels, channels, depth: 8 });
  return Buffer.from(png.buffer, png.byteOffset, png.byteLength);
}

/** Bilinear resize of one 8-bit channel (pixel-center alignment, OpenCV's INTER_LINEAR). */
export function resizeChannel(src: ArrayLike<number>, width: number, height: number, outW: number, outH: number): Float32Array {
  const out = new Float32Array(outW * outH);
  const sx = width / outW;
  const sy = height / outH;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      const top = src[y0 * width + x0]! * (1 - wx) + src[y0 * width + x1]! * wx;
      const bottom = src[y1 * width + x0]! * (1 - wx) + src[y1 * width + x1]! * wx;
      out[y * outW + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/** One channel (0 R, 1 G, 2 B) or the luma (-1) of an image. */
export function channel(image: RgbImage, c: 0 | 1 | 2 | -1): Uint8Array {
  const n = image.width * image.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = c === -1 ? Math.round(0.299 * image.rgb[3 * i]! + 0.587 * image.rgb[3 * i + 1]! + 0.114 * image.rgb[3 * i + 2]!) : image.rgb[3 * i + c]!;
  }
  return out;
}

export function typedFromArray(dtype: DType, values: ArrayLike<number>): TensorData {
  return fillTyped(dtype, Array.from(values));
}
