/** Openings for the dispute game's leaf proofs: elements out of chunks, step and operand proofs with their Merkle paths. */
import { CHUNK_BYTES, bytesToHex, sha256, DTYPES, type DType, type Tensor, encodeHeader, type Hex } from "../protocol/index.js";
import { encodeStep } from "./commitment.js";
import type { OperandProof, StepProof } from "./descent.js";
import type { Program, TensorType } from "./program.js";
import type { Read } from "./reads.js";
import { type CanonicalTrace, type TensorTree, chunkOf, tensorTreeOf } from "./trace.js";
import { FlatTree, pathUnderRevealed } from "./tree.js";

export const eq = (a: Uint8Array | Hex, b: Uint8Array | Hex): boolean => toHexAny(a) === toHexAny(b);
export function toHexAny(x: Uint8Array | Hex): string {
  return (typeof x === "string" ? x : bytesToHex(x)).toLowerCase();
}

export function leafHashOfRecord(record: Uint8Array): Buffer {
  return sha256(Uint8Array.of(0), record);
}

export function tensorHashOf(header: Uint8Array, dataRoot: Uint8Array): Buffer {
  return sha256(Uint8Array.of(2), header, dataRoot);
}

/** Element `e`'s value from the bytes of the chunk holding it. */
export function elementFromChunk(dtype: DType, chunk: Uint8Array, e: number): number {
  const size = DTYPES[dtype].size;
  const at = (e * size) % CHUNK_BYTES;
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  switch (dtype) {
    case "float32":
      return v.getFloat32(at, true);
    case "float64":
      return v.getFloat64(at, true);
    case "int8":
      return v.getInt8(at);
    case "uint8":
    case "bool":
      return v.getUint8(at);
    case "int16":
      return v.getInt16(at, true);
    case "uint16":
    case "float16":
      return v.getUint16(at, true);
    case "int32":
      return v.getInt32(at, true);
    case "uint32":
      return v.getUint32(at, true);
    default:
      throw new RangeError(`no canonical element of ${dtype}`);
  }
}

/** The stored bytes of a canonical element value (every float NaN as the canonical 0x7fc00000). */
export function elementBytes(dtype: DType, value: number): Buffer {
  const b = Buffer.alloc(DTYPES[dtype].size);
  switch (dtype) {
    case "float32":
      if (value !== value) b.writeUInt32LE(0x7fc00000);
      else b.writeFloatLE(value);
      break;
    case "int8":
      b.writeInt8(value);
      break;
    case "uint8":
    case "bool":
      b.writeUInt8(value);
      break;
    case "int16":
      b.writeInt16LE(value);
      break;
    case "uint16":
      b.writeUInt16LE(value);
      break;
    case "int32":
      b.writeInt32LE(value);
      break;
    case "uint32":
      b.writeUInt32LE(value >>> 0);
      break;
    default:
      throw new RangeError(`no canonical element of ${dtype}`);
  }
  return b;
}

export function headerOf(t: TensorType): Buffer {
  return encodeHeader(t.dtype, t.shape);
}

export function stepProofOf(program: Program, j: number, programTree: FlatTree): StepProof {
  return { index: j, encoding: bytesToHex(encodeStep(program.steps[j]!)), path: programTree.path(j).map(bytesToHex) };
}

/** Operand proofs for `reads` of step j, from the challenger's own trace (its operands agree with the worker's). */
export function operandProofs(mine: CanonicalTrace, j: number, reads: Read[], weightsTree: FlatTree, manifestRevealed: ReadonlyMap<string, Uint8Array>): OperandProof[] {
  const step = mine.program.steps[j]!;
  return reads.map((r) => {
    const o = step.operands[r.operand]!;
    const t = mine.operandTensor(o);
    const size = DTYPES[t.dtype].size;
    const c = Math.floor((r.index * size) / CHUNK_BYTES);
    let header: Buffer;
    let dataRoot: Buffer;
    let chunks: FlatTree;
    let data: Uint8Array;
    let path: Hex[] = [];
    if (o.source === "step") {
      const tree = mine.trees[o.index]!;
      ({ header, dataRoot, chunks, data } = tree);
      path = pathUnderRevealed(mine.manifest, manifestRevealed, o.index).map(bytesToHex);
    } else {
      // Weights and the input: hashed on demand (the weights tree for the path).
      const tree = tensorTree(t);
      ({ header, dataRoot, chunks, data } = tree);
      if (o.source === "weight") path = weightsTree.path(o.index).map(bytesToHex);
    }
    return {
      ...r,
      source: o.source,
      sourceIndex: o.index ?? 0,
      tensor: { header: bytesToHex(header), dataRoot: bytesToHex(dataRoot) },
      path,
      chunk: { index: c, bytes: bytesToHex(chunkOf(data, c)), path: chunks.path(c).map(bytesToHex) },
    };
  });
}

/** Weight and input trees, hashed once per tensor. */
export const treeCache = new WeakMap<Tensor, TensorTree>();
export function tensorTree(t: Tensor): TensorTree {
  let v = treeCache.get(t);
  if (v === undefined) treeCache.set(t, (v = tensorTreeOf(t)));
  return v;
}
