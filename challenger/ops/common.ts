/** What every reference operator shares (challenger/ops.ts): the kernel types, the float bound, attribute and index helpers. */
import type { AttributeValue, TensorType, DType, Tensor } from "../../protocol/index.js";
import { ChallengerError } from "../errors.js";

/** Unit roundoff of float32. */
export const FLOAT32_U = 2 ** -24;
const MIN_NORMAL32 = 2 ** -126;

export function gamma(n: number): number {
  return (n * FLOAT32_U) / (1 - n * FLOAT32_U);
}

/** The float bound for an element made of `terms` float32 roundings whose magnitudes sum to `magnitude`. */
export function floatBound(terms: number, magnitude: number): number {
  return (terms + 1) * MIN_NORMAL32 + 2 * gamma(terms + 1) * magnitude;
}

/** One recomputed output element. */
export interface Element {
  /** float outputs: the exact-ish (float64) value; integer outputs: the exact value (bigint for 64-bit). */
  value: number | bigint;
  /** Σ|terms| (0 for exact operators). */
  magnitude: number;
  /** How many roundings an implementation may apply (0 for exact operators). */
  terms: number;
}

export interface OpKernel {
  outputs: TensorType[];
  /** Recomputes element `index` (flat, row-major) of output `output`. */
  element(output: number, index: number): Element;
  /** True when honest results must match bit for bit. */
  exact: boolean;
}

export interface OpContext {
  inputs: ReadonlyArray<Tensor | undefined>;
  attributes: ReadonlyMap<string, AttributeValue>;
  opset: number;
}

export type OpFactory = (ctx: OpContext) => OpKernel;

export function allowedError(kernel: OpKernel, e: Element): number {
  return kernel.exact ? 0 : floatBound(e.terms, e.magnitude);
}

// ---- helpers ----

export const FLOAT_TYPES = new Set<DType>(["float32", "float64"]);

export function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new ChallengerError("OP_UNSUPPORTED", message, details);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function read(t: Tensor, i: number): number {
  const v = t.data[i]!;
  return typeof v === "bigint" ? Number(v) : v;
}

export function readBig(t: Tensor, i: number): bigint {
  const v = t.data[i]!;
  return typeof v === "bigint" ? v : BigInt(v);
}

export function input(ctx: OpContext, i: number, what: string): Tensor {
  const t = ctx.inputs[i];
  if (t === undefined) fail(`missing input ${i} (${what})`);
  return t;
}

export function attrInt(ctx: OpContext, name: string, fallback: number): number {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "int") fail(`attribute ${name} must be an int`);
  return Number(a.value);
}

export function attrFloat(ctx: OpContext, name: string, fallback: number): number {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "float") fail(`attribute ${name} must be a float`);
  return a.value;
}

export function attrInts(ctx: OpContext, name: string): number[] | undefined {
  const a = ctx.attributes.get(name);
  if (a === undefined) return undefined;
  if (a.type !== "ints") fail(`attribute ${name} must be ints`);
  return a.value.map(Number);
}

export function attrString(ctx: OpContext, name: string, fallback: string): string {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "string") fail(`attribute ${name} must be a string`);
  return Buffer.from(a.value).toString("utf8");
}

export function intsOf(t: Tensor): number[] {
  return Array.from({ length: t.data.length }, (_, i) => read(t, i));
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function broadcastShape(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) fail(`shapes [${shapes.map((x) => `[${x}]`).join(", ")}] do not broadcast`);
    }
  }
  return out;
}

/** Maps a flat index of `outShape` to the flat index of a tensor of `inShape` broadcast to it. */
export function broadcaster(outShape: readonly number[], inShape: readonly number[]): (flat: number) => number {
  const outStrides = strides(outShape);
  const inStrides = strides(inShape);
  const offset = outShape.length - inShape.length;
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return (f) => f;
  return (flat) => {
    let idx = 0;
    for (let i = 0; i < inShape.length; i++) {
      const o = i + offset;
      const coord = Math.floor(flat / outStrides[o]!) % outShape[o]!;
      if (inShape[i] !== 1) idx += coord * inStrides[i]!;
    }
    return idx;
  };
}

export const exactCopy = (v: number | bigint): Element => ({ value: v, magnitude: 0, terms: 0 });
