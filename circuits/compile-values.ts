/** What the circom compiler works with: its error, integer dtypes and ranges, signal and constant tensors, the result types, initializer reading, bit sizing and circom formatting. */
import { createRequire } from "node:module";
import type { onnx as OnnxNs } from "onnx-proto";

const require = createRequire(import.meta.url);
const { onnx } = require("onnx-proto") as { onnx: typeof OnnxNs };

export class ZkCompileError extends Error {
  override name = "ZkCompileError";
  constructor(message: string, readonly node?: string) {
    super(node ? `${node}: ${message}` : message);
  }
}

export type IntDType = "int8" | "int32" | "int64";
export const DTYPE_RANGE: Record<IntDType, [bigint, bigint]> = {
  int8: [-128n, 127n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

export interface SignalTensor {
  kind: "signal";
  dtype: IntDType;
  shape: number[];
  /** circom expression naming an array signal of numel(shape) elements, e.g. "c_l0_acc.out". */
  ref: string;
  lo: bigint[];
  hi: bigint[];
}

export interface ConstTensor {
  kind: "const";
  dtype: IntDType;
  shape: number[];
  values: bigint[];
}

export type Value = SignalTensor | ConstTensor;

export interface CompiledLayerInfo {
  node: string;
  op: string;
  template: string | null;
  params: string;
  outputRange: [string, string];
}

export interface CompileResult {
  circom: string;
  modelHash: `0x${string}`;
  inputName: string;
  inputShape: number[];
  outputName: string;
  outputShape: number[];
  inputWords: number;
  outputWords: number;
  layers: CompiledLayerInfo[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function dtypeOf(code: number | null | undefined, where: string): IntDType {
  const T = onnx.TensorProto.DataType;
  if (code === T.INT8) return "int8";
  if (code === T.INT32) return "int32";
  if (code === T.INT64) return "int64";
  throw new ZkCompileError(`unsupported element type ${code} (only int8, int32, int64)`, where);
}

export function readInitializer(t: OnnxNs.ITensorProto): ConstTensor {
  const name = t.name ?? "?";
  const dtype = dtypeOf(t.dataType, name);
  const shape = (t.dims ?? []).map((d) => Number(d));
  const n = numel(shape);
  let values: bigint[];
  if (t.rawData && t.rawData.length > 0) {
    const buf = Buffer.from(t.rawData);
    const size = dtype === "int8" ? 1 : dtype === "int32" ? 4 : 8;
    if (buf.length !== n * size) throw new ZkCompileError(`raw data is ${buf.length} bytes, expected ${n * size}`, name);
    values = Array.from({ length: n }, (_, i) =>
      dtype === "int8" ? BigInt(buf.readInt8(i)) : dtype === "int32" ? BigInt(buf.readInt32LE(4 * i)) : buf.readBigInt64LE(8 * i));
  } else if (dtype === "int64") {
    values = (t.int64Data ?? []).map((v) => BigInt(v.toString()));
  } else {
    values = (t.int32Data ?? []).map((v) => BigInt(v));
  }
  if (values.length !== n) throw new ZkCompileError(`has ${values.length} values, expected ${n}`, name);
  return { kind: "const", dtype, shape, values };
}

export function staticShape(v: OnnxNs.IValueInfoProto): number[] {
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  return dims.map((d, i) => {
    if (d.dimValue === null || d.dimValue === undefined || Number(d.dimValue) <= 0) {
      throw new ZkCompileError(`dimension ${i} must be static (a circuit has a fixed size)`, v.name ?? "?");
    }
    return Number(d.dimValue);
  });
}

/** Smallest b with -2^(b-1) <= lo and hi < 2^(b-1). */
export function signedBits(lo: bigint, hi: bigint): number {
  let b = 2;
  while (-(1n << BigInt(b - 1)) > lo || hi >= 1n << BigInt(b - 1)) b++;
  return b;
}

/** Smallest n with -2^n <= d < 2^n for every difference d in [lo, hi] (circomlib LessThan(n)). */
export function comparatorBits(lo: bigint, hi: bigint): number {
  let n = 1;
  while (-(1n << BigInt(n)) > lo || hi >= 1n << BigInt(n)) n++;
  return n;
}

export function unsignedBits(hi: bigint): number {
  let b = 1;
  while (hi >= 1n << BigInt(b)) b++;
  return b;
}

export function min(a: bigint, b: bigint): bigint { return a < b ? a : b; }
export function max(a: bigint, b: bigint): bigint { return a > b ? a : b; }
export function maxOf(v: bigint[]): bigint { return v.reduce(max); }
export function minOf(v: bigint[]): bigint { return v.reduce(min); }

export function circomArray(values: bigint[], shape: number[]): string {
  if (shape.length <= 1) return `[${values.join(", ")}]`;
  const [rows, ...rest] = shape as [number, ...number[]];
  const step = numel(rest);
  const parts: string[] = [];
  for (let r = 0; r < rows; r++) parts.push(circomArray(values.slice(r * step, (r + 1) * step), rest));
  return `[${parts.join(",\n        ")}]`;
}

export function identifier(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, "_");
}
