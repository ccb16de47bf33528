/**
 * The canonical runtime: executes a lowered program on one input at a precision, bit-exactly as the
 * step definitions say (docs/CANONICAL.md), and returns the output and every step's trace tensor.
 *
 * Precisions (canonical/float.ts): fp32 rounds every float step output to float32; tf32 also rounds
 * the operands of contractions (conv, matmul) to tf32 before multiplying; fp16 and bf16 round every
 * float step output to that format (stored in float32 tensors). Every NaN a float step writes is the
 * canonical quiet NaN (0x7fc00000).
 *
 * A program's weights are read-only: the kernels keep a binary64 copy of each weight array (keyed by
 * the array), so change a weight by building a new program (or a new array), never in place.
 */
import { DTYPES, numel, type Tensor, type TensorData } from "../protocol/index.js";
import { BF16, canonicalizeNaN32, FP16, roundTo, TF32, type Precision } from "./float.js";
import { conv3dKernel, pool3dKernel, convKernel, convTranspose3dKernel, convTransposeKernel, mapKernel, matmulKernel, moveKernel, poolKernel, reduceKernel, resizeLinearKernel, type NumArray, type OperandRound, type Store } from "./kernels.js";
import { canonicalError, type Operand, type Program, type Step } from "./program.js";
import { makeRounder } from "./round.js";

export interface RunOptions {
  /** Default fp32. */
  precision?: Precision;
}

export interface RunResult {
  /** The last step's tensor (the model output). */
  output: Tensor;
  /** Every model output, in canonical name order (the last steps; one output: the last step's). */
  outputs: Tensor[];
  /** Every step's output, in step order (trace tensor j is step j's). */
  trace: Tensor[];
}

/** Rounds a float32 value (given as its bits) to tf32 (10 stored mantissa bits), nearest-even, NaN kept. */
function tf32Array(data: NumArray): Float64Array {
  const f = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Float64Array(f.length);
  const tmp = new Uint32Array(1);
  const tmpF = new Float32Array(tmp.buffer);
  for (let i = 0; i < f.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7f800000) === 0x7f800000) {
      out[i] = f[i]!; // Inf and NaN pass through
      continue;
    }
    // Round to nearest, ties to even, at bit 13; a carry into the exponent is the correct result (up to +Inf).
    tmp[0] = ((b + 0xfff + ((b >>> 13) & 1)) & 0xffffe000) >>> 0;
    out[i] = tmpF[0]!;
  }
  return out;
}

const ROUND_FP16 = makeRounder(FP16);
const ROUND_BF16 = makeRounder(BF16);

function storeFor(precision: Precision): Store {
  switch (precision) {
    case "fp32":
    case "tf32":
      return (x) => x; // the Float32Array write rounds to nearest-even float32 (Math.fround)
    case "fp16":
      return ROUND_FP16;
    case "bf16":
      return ROUND_BF16;
  }
}

function operandRoundFor(precision: Precision): OperandRound {
  return precision === "tf32" ? tf32Array : (d) => d;
}

/** The slow reference of the tf32 operand rounding (float.ts's roundTo), for tests. */
export function tf32Reference(x: number): number {
  return roundTo(x, TF32);
}

/** The program's inputs from one tensor (a one-input program) or one per input in canonical name order, each checked. */
export function programInputs(program: Program, input: Tensor | readonly Tensor[]): Tensor[] {
  const inputs = Array.isArray(input) ? [...(input as readonly Tensor[])] : [input as Tensor];
  const specs = program.inputs ?? [program.input];
  if (inputs.length !== specs.length) throw canonicalError("TENSOR_SPEC_MISMATCH", `the program takes ${specs.length} inputs (${specs.map((x) => x.name).join(", ")}), got ${inputs.length}`);
  inputs.forEach((t, i) => {
    const x = specs[i]!;
    if (t.dtype !== x.dtype || t.shape.length !== x.shape.length || t.shape.some((d, k) => d !== x.shape[k])) {
      throw canonicalError("TENSOR_SPEC_MISMATCH", `the input${specs.length > 1 ? ` ${x.name}` : ""} is ${t.dtype}[${t.shape}], the program takes ${x.dtype}[${x.shape}]`);
    }
  });
  return inputs;
}

/** Runs a program on its input (several inputs: one tensor per input, in canonical name order). */
export function runProgram(program: Program, input: Tensor | readonly Tensor[], options: RunOptions = {}): RunResult {
  const trace: Tensor[] = [];
  runSteps(program, input, options, (_, t) => void trace.push(t));
  const n = (program.outputs ?? [program.output]).length;
  return { output: trace[trace.length - 1]!, outputs: trace.slice(trace.length - n), trace };
}

export interface StepRunOptions extends RunOptions {
  /** Drop each step tensor from the runner once no later step reads it (the model outputs are never read). */
  release?: boolean;
}

/** The last step reading each step's tensor (−1: none). */
export function lastReaders(program: Program): Int32Array {
  const last = new Int32Array(program.steps.length).fill(-1);
  for (const step of program.steps) for (const o of step.operands) if (o.source === "step") last[o.index] = Math.max(last[o.index]!, step.index);
  return last;
}

/**
 * Runs a program step by step, handing each step's tensor to `onStep` as it is produced (the tensors and
 * their bits are those of runProgram). With `release`, the runner keeps a step's tensor only while a later
 * step still reads it: what `onStep` keeps is all that stays in memory.
 */
export function runSteps(program: Program, input: Tensor | readonly Tensor[], options: StepRunOptions, onStep: (j: number, t: Tensor) => void): void {
  const precision = options.precision ?? "fp32";
  const inputs = programInputs(program, input);
  const floatStore = storeFor(precision);
  const intStore: Store = (x) => x;
  const operandRound = operandRoundFor(precision);
  // fp32/tf32: the Float32Array write is the storage rounding, so kernels may write binary64 values directly.
  const exactStore = precision === "fp32" || precision === "tf32";
  const live: Array<Tensor | undefined> = [];
  const last = options.release ? lastReaders(program) : undefined;
  const read = (o: Operand): NumArray => {
    switch (o.source) {
      case "input":
        return inputs[o.index ?? 0]!.data as NumArray;
      case "weight":
        return program.weights[o.index]!.tensor.data as NumArray;
      case "step": {
        const t = live[o.index];
        if (t === undefined) throw new Error(`step ${o.index} read after its release`);
        return t.data as NumArray;
      }
    }
  };
  for (const step of program.steps) {
    const ins = step.operands.map(read);
    const Ctor = DTYPES[step.output.dtype].array;
    const out = new Ctor(numel(step.output.shape)) as NumArray;
    const store = step.output.dtype === "float32" ? floatStore : intStore;
    execute(step, ins, out, store, operandRound, exactStore);
    if (out instanceof Float32Array) canonicalizeNaN32(out);
    const t: Tensor = { dtype: step.output.dtype, shape: [...step.output.shape], data: out as TensorData };
    live.push(last === undefined || last[step.index]! > step.index ? t : undefined);
    if (last !== undefined) for (const o of step.operands) if (o.source === "step" && last[o.index] === step.index) live[o.index] = undefined;
    onStep(step.index, t);
  }
}

function execute(step: Step, ins: NumArray[], out: NumArray, store: Store, operandRound: OperandRound, exactStore: boolean): void {
  switch (step.kind) {
    case "map":
      return mapKernel(step, ins, out, store, exactStore);
    case "move":
      return moveKernel(step, ins, out);
    case "reduce":
      switch (step.op) {
        case "conv":
          return convKernel(step, ins, out, store, operandRound);
        case "convtranspose":
          return convTransposeKernel(step, ins, out, store, operandRound);
        case "matmul":
          return matmulKernel(step, ins, out, store, operandRound);
        case "pool":
          return poolKernel(step, ins, out, store);
        case "reduce":
          return reduceKernel(step, ins, out, store);
        case "conv3d":
          return conv3dKernel(step, ins, out, store, operandRound);
        case "pool3d":
          return pool3dKernel(step, ins, out, store);
        case "resize_linear":
          return resizeLinearKernel(step, ins, out, store);
        case "convtranspose3d":
          return convTranspose3dKernel(step, ins, out, store, operandRound);
      }
  }
  throw canonicalError("OP_UNSUPPORTED", `step ${step.index}: no kernel for ${step.kind} ${step.op}`);
}
