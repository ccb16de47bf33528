/** What every operator lowering shares: the context it is given, its Values, input access and dtype checks. */
import type { AttributeValue, DType, Tensor } from "../../protocol/index.js";
import type { IntConstant } from "../fold.js";
import type { MapOp, MoveOp, Operand, Params, ReduceOp, StepKind, TensorType } from "../program.js";

export interface Value {
  type: TensorType;
  /** Where steps read it (absent for folded shape arithmetic). */
  operand?: Operand;
  /** Its values, when known at lowering time (integer weights and folded shape arithmetic). */
  constant?: IntConstant;
  /** The weight tensor, for weights. */
  weight?: Tensor;
}

export interface LowerContext {
  opType: string;
  opset: number;
  node: string;
  attributes: ReadonlyMap<string, AttributeValue>;
  inputs: ReadonlyArray<Value | undefined>;
  /** The number of outputs the node declares. */
  outputs: number;
  emit(kind: StepKind, op: MapOp | MoveOp | ReduceOp, operands: Value[], output: TensorType, params?: Params): Value;
  fail(message: string): Error;
}

export type OperatorLowering = (ctx: LowerContext) => Value[];

export const FLOAT = new Set<DType>(["float32"]);
export const INTEGER = new Set<DType>(["int8", "uint8", "int16", "uint16", "int32", "uint32"]);

export function input(ctx: LowerContext, i: number): Value {
  const v = ctx.inputs[i];
  if (v === undefined) throw ctx.fail(`input ${i} is required`);
  return v;
}

export function checkDtype(ctx: LowerContext, v: Value, allowed: ReadonlySet<DType>): void {
  if (!allowed.has(v.type.dtype)) throw ctx.fail(`dtype ${v.type.dtype} is not supported`);
}

export const NUMERIC = new Set<DType>([...FLOAT, ...INTEGER]);

/** Values of a constant input (an integer constant, or a float weight), as numbers. */
export function constantValues(ctx: LowerContext, i: number): number[] | undefined {
  const v = ctx.inputs[i];
  if (v === undefined) return undefined;
  if (v.constant !== undefined) return v.constant.values;
  if (v.weight !== undefined) return Array.from(v.weight.data as ArrayLike<number | bigint>, Number);
  throw ctx.fail(`input ${i} must be a constant (a weight or shape arithmetic)`);
}

export function requiredConstant(ctx: LowerContext, i: number): number[] {
  return constantValues(ctx, i) ?? (() => { throw ctx.fail(`input ${i} is required`); })();
}

/** Per-channel view of a 1-D [C] operand against an [N, C, ...] tensor: [C, 1, ...]. */
export function channelView(rank: number, c: number): number[] {
  return [c, ...new Array<number>(rank - 2).fill(1)];
}

export function reshapeTo(ctx: LowerContext, x: Value, shape: number[]): Value {
  return ctx.emit("move", "reshape", [x], { dtype: x.type.dtype, shape });
}

export const QUANT = new Set<DType>(["int8", "uint8"]);

export function numelOfShape(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export const ANY_NUMERIC = NUMERIC;
export const BOOL = new Set<DType>(["bool"]);
export const NUMERIC_OR_BOOL = new Set<DType>([...NUMERIC, "bool"]);
