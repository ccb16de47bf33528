/**
 * The canonical tensor encoding (one definition for every service; the Solidity twin is
 * contracts/libraries/TensorHash.sol, and golden vectors pin both):
 *
 *   "VIOT" | version=1 | dtype (ONNX code) | rank | 0 | rank x uint32 big-endian dims | data (little-endian)
 *
 * The data holds exactly numel * elementSize bytes. A tensor's hash is
 * sha256(0x02 || header || merkleRoot(1024-byte chunks of data)), so one element can be proven with
 * one chunk and a short path.
 */
import { OracleError } from "./errors.js";
import { chunkRoot, sha256, bytesToHex } from "./merkle.js";
import type { Hex, TensorHash } from "./types.js";

export const TENSOR_MAGIC = Buffer.from("VIOT", "ascii");
export const TENSOR_VERSION = 1;
export const MAX_RANK = 8;
export const HEADER_FIXED_BYTES = 8;

/** Codes shared with TensorHash.sol's ERR_* constants. */
export enum TensorFormatCode {
  TooShort = 1,
  BadMagic = 2,
  BadVersion = 3,
  BadDtype = 4,
  BadRank = 5,
  BadLength = 6,
}

/** ONNX TensorProto.DataType codes. */
export const DTYPES = {
  float32: { code: 1, size: 4, array: Float32Array },
  uint8: { code: 2, size: 1, array: Uint8Array },
  int8: { code: 3, size: 1, array: Int8Array },
  uint16: { code: 4, size: 2, array: Uint16Array },
  int16: { code: 5, size: 2, array: Int16Array },
  int32: { code: 6, size: 4, array: Int32Array },
  int64: { code: 7, size: 8, array: BigInt64Array },
  bool: { code: 9, size: 1, array: Uint8Array },
  float16: { code: 10, size: 2, array: Uint16Array },
  float64: { code: 11, size: 8, array: Float64Array },
  uint32: { code: 12, size: 4, array: Uint32Array },
  uint64: { code: 13, size: 8, array: BigUint64Array },
} as const;

export type DType = keyof typeof DTYPES;
export type TensorData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** A model's declared input or output: a dimension of 0 accepts any size. */
export interface TensorSpec {
  dtype: DType;
  shape: number[];
}

const BY_CODE = new Map<number, DType>(Object.entries(DTYPES).map(([name, d]) => [d.code, name as DType]));
// bool and uint8 share Uint8Array; the code decides.
BY_CODE.set(2, "uint8");

export function dtypeFromCode(code: number): DType | undefined {
  return BY_CODE.get(code);
}

export function dtypeCode(dtype: DType): number {
  return DTYPES[dtype].code;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function malformed(code: TensorFormatCode, message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("TENSOR_MALFORMED", message, { details: { formatCode: code, ...details } });
}

function checkShape(shape: readonly number[]): void {
  if (shape.length > MAX_RANK) throw malformed(TensorFormatCode.BadRank, `rank ${shape.length} exceeds ${MAX_RANK}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw malformed(TensorFormatCode.BadLength, `dimension ${d} is not an integer in 0..2^32-1`, { shape });
    }
  }
}

export function encodeHeader(dtype: DType, shape: readonly number[]): Buffer {
  checkShape(shape);
  // The decoder (and TensorHash.sol) refuse a shape whose running product exceeds the encoded
  // length, which only an empty tensor with a large leading dimension ([100, 0]) can reach: refuse
  // it here too, so that nothing is ever encoded (or hashed and signed) that cannot be decoded.
  const total = HEADER_FIXED_BYTES + 4 * shape.length + numel(shape) * (DTYPES[dtype]?.size ?? 1);
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > total) {
      throw malformed(TensorFormatCode.BadLength, `shape [${shape}] of an empty tensor cannot be decoded: a leading product exceeds its ${total}-byte encoding`, { shape });
    }
  }
  const header = Buffer.alloc(HEADER_FIXED_BYTES + 4 * shape.length);
  TENSOR_MAGIC.copy(header, 0);
  header[4] = TENSOR_VERSION;
  header[5] = DTYPES[dtype].code;
  header[6] = shape.length;
  header[7] = 0;
  shape.forEach((d, i) => header.writeUInt32BE(d, HEADER_FIXED_BYTES + 4 * i));
  return header;
}

/** Little-endian bytes of a typed array, without copying on little-endian hosts. */
function dataBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeTensor(tensor: Tensor): Buffer {
  const { dtype, shape, data } = tensor;
  const spec = DTYPES[dtype];
  if (spec === undefined) throw malformed(TensorFormatCode.BadDtype, `unsupported dtype ${String(dtype)}`);
  const expected = numel(shape);
  if (data.length !== expected) {
    throw malformed(TensorFormatCode.BadLength, `shape [${shape}] needs ${expected} elements, data has ${data.length}`);
  }
  if (data.BYTES_PER_ELEMENT !== spec.size) {
    throw malformed(TensorFormatCode.BadDtype, `${dtype} data must be ${spec.size}-byte elements`);
  }
  return Buffer.concat([encodeHeader(dtype, shape), dataBytes(data)]);
}

export interface DecodedHeader {
  dtype: DType;
  shape: number[];
  headerBytes: number;
  dataBytes: number;
}

/** Parses and checks a header against the total length; never allocates more than the input. */
export function decodeHeader(bytes: Uint8Array): DecodedHeader {
  return decodeHeaderOf(bytes, bytes.byteLength);
}

/**
 * decodeHeader for an encoding of `totalBytes` bytes of which `prefix` holds the start (at least its
 * header, when the encoding is that long): what a streaming reader checks once it knows the length.
 */
export function decodeHeaderOf(prefix: Uint8Array, totalBytes: number): DecodedHeader {
  const bytes = prefix;
  if (totalBytes < HEADER_FIXED_BYTES || bytes.byteLength < HEADER_FIXED_BYTES) {
    throw malformed(TensorFormatCode.TooShort, `tensor needs at least ${HEADER_FIXED_BYTES} bytes, got ${totalBytes}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.subarray(0, 4).equals(TENSOR_MAGIC)) throw malformed(TensorFormatCode.BadMagic, "tensor does not start with VIOT");
  if (buf[4] !== TENSOR_VERSION || buf[7] !== 0) {
    throw malformed(TensorFormatCode.BadVersion, `unsupported tensor encoding version ${buf[4]}`);
  }
  const dtype = dtypeFromCode(buf[5]!);
  if (dtype === undefined) throw malformed(TensorFormatCode.BadDtype, `unsupported dtype code ${buf[5]}`);
  const rank = buf[6]!;
  if (rank > MAX_RANK) throw malformed(TensorFormatCode.BadRank, `rank ${rank} exceeds ${MAX_RANK}`);
  const headerBytes = HEADER_FIXED_BYTES + 4 * rank;
  if (totalBytes < headerBytes || buf.byteLength < headerBytes) throw malformed(TensorFormatCode.TooShort, `header of rank ${rank} is truncated`);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = buf.readUInt32BE(HEADER_FIXED_BYTES + 4 * i);
    shape.push(d);
    count *= d;
    // Checked as we go so a huge claimed shape is refused before any arithmetic goes inexact.
    if (count > totalBytes) {
      throw malformed(TensorFormatCode.BadLength, `shape [${shape}...] is larger than the ${totalBytes}-byte payload`);
    }
  }
  const size = DTYPES[dtype].size;
  if (totalBytes !== headerBytes + count * size) {
    throw malformed(
      TensorFormatCode.BadLength,
      `${dtype}[${shape}] needs ${headerBytes + count * size} bytes, got ${totalBytes}`,
      { dtype, shape },
    );
  }
  return { dtype, shape, headerBytes, dataBytes: count * size };
}

/** Decodes a canonical tensor. The data is copied into an aligned typed array. */
export function decodeTensor(bytes: Uint8Array): Tensor {
  const h = decodeHeader(bytes);
  const Ctor = DTYPES[h.dtype].array;
  const aligned = new Uint8Array(h.dataBytes);
  aligned.set(bytes.subarray(h.headerBytes, h.headerBytes + h.dataBytes));
  const data = new Ctor(aligned.buffer, 0, h.dataBytes / DTYPES[h.dtype].size) as TensorData;
  return { dtype: h.dtype, shape: h.shape, data };
}

/** Hash of a canonical encoding (validated first). */
export function hashEncoded(bytes: Uint8Array): TensorHash {
  const h = decodeHeader(bytes);
  const header = bytes.subarray(0, h.headerBytes);
  const root = chunkRoot(bytes.subarray(h.headerBytes));
  return bytesToHex(sha256(Buffer.from([2]), header, root)) as TensorHash;
}

export function hashTensor(tensor: Tensor): TensorHash {
  const header = encodeHeader(tensor.dtype, tensor.shape);
  const root = chunkRoot(dataBytes(tensor.data));
  return bytesToHex(sha256(Buffer.from([2]), header, root)) as TensorHash;
}

/** Throws TENSOR_SPEC_MISMATCH unless `tensor` (or its header) fits `spec`. */
export function checkSpec(actual: { dtype: DType; shape: readonly number[] }, spec: TensorSpec, what = "tensor"): void {
  const fail = (why: string) =>
    new OracleError("TENSOR_SPEC_MISMATCH", `${what} ${why}`, {
      details: { expected: { dtype: spec.dtype, shape: spec.shape }, actual: { dtype: actual.dtype, shape: [...actual.shape] } },
    });
  if (actual.dtype !== spec.dtype) throw fail(`has dtype ${actual.dtype}, the model expects ${spec.dtype}`);
  if (actual.shape.length !== spec.shape.length) {
    throw fail(`has rank ${actual.shape.length}, the model expects rank ${spec.shape.length} [${spec.shape}]`);
  }
  spec.shape.forEach((want, i) => {
    const got = actual.shape[i]!;
    if (want !== 0 && got !== want) throw fail(`has dimension ${i} = ${got}, the model expects ${want}`);
    if (got === 0) throw fail(`has an empty dimension ${i}`);
  });
}

/**
 * The header and data root of an encoded tensor: `sha256(0x02 || header || dataRoot)` is its tensor hash.
 * A worker's rejection carries them to prove the input is not of the model's committed input type
 * (`rejectRequestWithProof`, docs/PROTOCOL.md "Rejections") without sending the data.
 */
export function tensorHashParts(bytes: Uint8Array): { header: Hex; dataRoot: Hex } {
  const h = decodeHeader(bytes);
  return { header: bytesToHex(bytes.subarray(0, h.headerBytes)), dataRoot: bytesToHex(chunkRoot(bytes.subarray(h.headerBytes))) };
}
