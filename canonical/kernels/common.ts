/** What the kernels share: the numeric array type, broadcast and strided offsets, integer wrapping, the store and operand rounding types, binary64 weight copies and scratch buffers. */
import type { DType, TensorData } from "../../protocol/index.js";
import { type TensorType, numelOf, stridesOf } from "../program.js";

/** Numbers in, numbers out: every canonical tensor the runtime holds (no 64-bit integer data). */
export type NumArray = Exclude<TensorData, BigInt64Array | BigUint64Array>;

/** Flat operand index for each output element, for an operand of shape `view` broadcast to `out`; null when identical. */
export function broadcastOffsets(out: readonly number[], view: readonly number[]): Int32Array | null {
  if (view.length === out.length && view.every((d, i) => d === out[i])) return null;
  if (numelOf(view) === 1) return new Int32Array(numelOf(out));
  const rank = out.length;
  const off = rank - view.length;
  const vs = stridesOf(view);
  // A broadcast axis reads with stride 0.
  const strides = new Array<number>(rank).fill(0);
  for (let d = 0; d < view.length; d++) if (view[d] !== 1) strides[d + off] = vs[d]!;
  return stridedOffsets(out, 0, strides);
}

/** Flat input offsets of a strided view: out coordinate j_d reads in coordinate start_d + j_d·step_d along axes perm_d. */
export function stridedOffsets(out: readonly number[], base: number, strides: readonly number[]): Int32Array {
  const n = numelOf(out);
  const res = new Int32Array(n);
  const rank = out.length;
  const coord = new Array<number>(rank).fill(0);
  let j = base;
  for (let i = 0; i < n; i++) {
    res[i] = j;
    for (let d = rank - 1; d >= 0; d--) {
      coord[d]!++;
      j += strides[d]!;
      if (coord[d]! < out[d]!) break;
      j -= strides[d]! * out[d]!;
      coord[d] = 0;
    }
  }
  return res;
}

export const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** Two's-complement wrap of an integer-valued number into `dtype`. */
export function wrapTo(dtype: DType, v: number): number {
  switch (dtype) {
    case "int8":
      return (v << 24) >> 24;
    case "uint8":
      return v & 0xff;
    case "int16":
      return (v << 16) >> 16;
    case "uint16":
      return v & 0xffff;
    case "int32":
      return v | 0;
    case "uint32":
      return v >>> 0;
    default:
      return v;
  }
}

export type Store = (x: number) => number;

/** Contraction operands as binary64 arrays (tf32: rounded to tf32 first). */
export type OperandRound = (data: NumArray) => ArrayLike<number>;

/** Weights as binary64, converted once per weight array (weights never change during a run). */
export const FLOAT64_COPIES = new WeakMap<object, Float64Array>();
export function asFloat64(a: ArrayLike<number>): Float64Array {
  if (a instanceof Float64Array) return a;
  let copy = FLOAT64_COPIES.get(a);
  if (copy === undefined || copy.length !== a.length) {
    copy = Float64Array.from(a);
    FLOAT64_COPIES.set(a, copy);
  }
  return copy;
}

/** A reused column buffer (kernels run one at a time and never keep it). */
export let SCRATCH = new Float64Array(0);
export function scratch(n: number): Float64Array {
  if (SCRATCH.length < n) SCRATCH = new Float64Array(n);
  return SCRATCH;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

export function typeLabel(t: TensorType): string {
  return `${t.dtype}[${t.shape}]`;
}
