/**
 * Checks a worker's trace against a model commitment without re-running the model: each operator
 * is recomputed from ITS OWN committed inputs (trace tensors, weights, the request's input), so
 * operators can be checked independently, in any order, or by sampling. The first wrong element
 * found (in operator order) is what a one-step fraud proof would dispute.
 */
import { type AttributeValue, type ModelCommitment, type OperatorEntry, type TensorType, seededRandom, numel, type Tensor } from "../protocol/index.js";
import { ChallengerError } from "./errors.js";
import { allowedError, evaluateKernel, prepareOperator, type Element, type OpKernel } from "./ops.js";

/** The tensors a trace check reads: the request's input and every trace tensor, in trace order. */
export interface TraceTensors {
  input: Tensor;
  tensors: readonly Tensor[];
}

export interface CheckOptions {
  /** Fraction of each operator's output elements to recompute (at least one each); 1 = all. */
  fraction?: number;
  /** Seed for the sampled elements (mulberry32). */
  seed?: number;
  /** Only these operator indices (default: all). */
  operators?: readonly number[];
}

export interface Fault {
  /** "value": an element outside its bound; "type": a tensor whose dtype or shape differs from the commitment. */
  reason: "value" | "type";
  opIndex: number;
  opType: string;
  /** Which output of the operator, and its index in the trace. */
  output: number;
  traceIndex: number;
  /** Flat (row-major) element index; -1 for a type fault. */
  element: number;
  claimed: number | bigint | null;
  recomputed: number | bigint | null;
  bound: number;
}

export interface CheckResult {
  ok: boolean;
  fault?: Fault;
  checkedOperators: number;
  checkedElements: number;
}

export interface ElementCheck {
  ok: boolean;
  claimed: number | bigint;
  recomputed: number | bigint;
  bound: number;
}

function attributeMap(op: OperatorEntry): Map<string, AttributeValue> {
  return new Map(op.attributes.map((a) => [a.name, a]));
}

function sameType(t: Tensor, type: TensorType): boolean {
  return t.dtype === type.dtype && t.shape.length === type.shape.length && t.shape.every((d, i) => d === type.shape[i]);
}

/** The operator's reference kernel over its committed inputs. */
export function operatorKernel(commitment: ModelCommitment, trace: TraceTensors, opIndex: number): OpKernel {
  const op = commitment.operators[opIndex];
  if (op === undefined) throw new ChallengerError("TRACE_MALFORMED", `no operator ${opIndex}`);
  const inputs = op.inputs.map((i) => {
    const s = i.source;
    if (s.kind === "absent") return undefined;
    if (s.kind === "input") return trace.input;
    if (s.kind === "weight") return commitment.weights[s.index]!.tensor;
    return trace.tensors[s.index];
  });
  const kernel = prepareOperator(op.opType, { inputs, attributes: attributeMap(op), opset: op.opset }, op.domain);
  kernel.outputs.forEach((t, o) => {
    const committed = op.outputTypes[o];
    if (committed === undefined || t.dtype !== committed.dtype || t.shape.join() !== committed.shape.join()) {
      throw new ChallengerError("OP_UNSUPPORTED", `the reference ${op.opType} (operator ${opIndex}) gives ${t.dtype} [${t.shape}], the commitment says ${committed?.dtype} [${committed?.shape}]`);
    }
  });
  return kernel;
}

/** Compares a claimed element with its recomputation under the operator's rule. */
export function compareElement(kernel: OpKernel, claimed: number | bigint, e: Element): ElementCheck {
  const bound = allowedError(kernel, e);
  const recomputed = e.value;
  let ok: boolean;
  if (typeof claimed === "bigint" || typeof recomputed === "bigint") ok = BigInt(claimed) === BigInt(recomputed);
  else if (Number.isNaN(claimed) || Number.isNaN(recomputed)) ok = Number.isNaN(claimed) && Number.isNaN(recomputed);
  else if (!Number.isFinite(claimed) || !Number.isFinite(recomputed)) ok = claimed === recomputed;
  else ok = Math.abs(claimed - recomputed) <= bound;
  return { ok, claimed, recomputed, bound };
}

/** One-step check of one element: what the on-chain verifier will compute. */
export function checkElement(commitment: ModelCommitment, trace: TraceTensors, opIndex: number, output: number, element: number): ElementCheck {
  const kernel = operatorKernel(commitment, trace, opIndex);
  const op = commitment.operators[opIndex]!;
  const claimedTensor = trace.tensors[op.outputs[output]!.trace]!;
  return compareElement(kernel, claimedTensor.data[element]!, kernel.element(output, element));
}

/** Checks structure (counts, dtypes, shapes), then recomputes operators' elements. */
export function checkTrace(commitment: ModelCommitment, trace: TraceTensors, options: CheckOptions = {}): CheckResult {
  const fraction = options.fraction ?? 1;
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  const random = seededRandom(options.seed ?? 1);
  let checkedOperators = 0;
  let checkedElements = 0;
  const producer = new Map<number, { op: OperatorEntry; output: number }>();
  for (const op of commitment.operators) op.outputs.forEach((o, i) => producer.set(o.trace, { op, output: i }));

  const typeFault = (traceIndex: number): CheckResult => {
    const p = producer.get(traceIndex)!;
    return {
      ok: false,
      checkedOperators,
      checkedElements,
      fault: { reason: "type", opIndex: p.op.index, opType: p.op.opType, output: p.output, traceIndex, element: -1, claimed: null, recomputed: null, bound: 0 },
    };
  };
  if (!sameType(trace.input, commitment.input)) {
    throw new ChallengerError("TRACE_MALFORMED", `the input is ${trace.input.dtype} [${trace.input.shape}], the commitment is for ${commitment.input.dtype} [${commitment.input.shape}]`);
  }
  if (trace.tensors.length !== commitment.traceTypes.length) {
    const first = Math.min(trace.tensors.length, commitment.traceTypes.length - 1);
    return typeFault(first);
  }
  for (let i = 0; i < trace.tensors.length; i++) if (!sameType(trace.tensors[i]!, commitment.traceTypes[i]!)) return typeFault(i);

  const selected = options.operators ?? commitment.operators.map((op) => op.index);
  for (const opIndex of [...selected].sort((a, b) => a - b)) {
    const op = commitment.operators[opIndex]!;
    const kernel = operatorKernel(commitment, trace, opIndex);
    checkedOperators++;
    for (let o = 0; o < op.outputs.length; o++) {
      const claimedTensor = trace.tensors[op.outputs[o]!.trace]!;
      const n = numel(claimedTensor.shape);
      const all = fraction >= 1;
      const count = all ? n : Math.max(1, Math.ceil(fraction * n));
      for (let k = 0; k < count; k++) {
        const element = all ? k : Math.floor(random() * n);
        const r = compareElement(kernel, claimedTensor.data[element]!, kernel.element(o, element));
        checkedElements++;
        if (!r.ok) {
          return {
            ok: false,
            checkedOperators,
            checkedElements,
            fault: { reason: "value", opIndex, opType: op.opType, output: o, traceIndex: op.outputs[o]!.trace, element, claimed: r.claimed, recomputed: r.recomputed, bound: r.bound },
          };
        }
      }
    }
  }
  return { ok: true, checkedOperators, checkedElements };
}

/** Runs the whole model with the reference operators (slow; for tests and for shapes of tiny models). */
export function referenceTrace(commitment: ModelCommitment, input: Tensor): Tensor[] {
  const tensors: Tensor[] = [];
  for (const op of commitment.operators) {
    const outs = evaluateKernel(operatorKernel(commitment, { input, tensors }, op.index));
    op.outputs.forEach((o, i) => (tensors[o.trace] = outs[i]!));
  }
  return tensors;
}
