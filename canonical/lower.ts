/**
 * Lowering: an ONNX model (parsed by protocol/commitment.ts's modelGraph, the same parse the v1
 * commitment uses) plus a static input shape → a canonical program (canonical/program.ts).
 *
 * Operators are visited in the v1 operator-table order (a stable topological sort); each lowers to
 * zero steps (folded shape arithmetic), one step, or several (composites such as Softmax and
 * BatchNormalization). An operator this file does not define is refused with an error naming it and
 * its node; so is a model whose shapes are not static at the given input shape.
 */
import { canonicalNames, modelGraph, type AttributeValue, type GraphOperator, type ModelGraph, DTYPES, dtypeFromCode, type DType, type Tensor } from "../protocol/index.js";
import { FOLDABLE_OPS, foldOperator, foldsWith, intConstantOf, isFoldableDtype, type IntConstant } from "./fold.js";
import { OPERATOR_LOWERINGS, type LowerContext, type Value } from "./lower-ops.js";
export { MAX_CONSTANT_INDICES } from "./lower-ops.js";
import { canonicalError, type Operand, type Program, type Step, type TensorType } from "./program.js";

export interface LowerOptions {
  /** The committed input shape (required where the model's declared shape has a symbolic dimension). */
  inputShape?: readonly number[];
  /** A model with several inputs: the static shape of each input by name (else its declared shape, which must be static). */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
}

/** The operator types this lowering supports (default ONNX domain). */
export function supportedOperators(): string[] {
  return Object.keys(OPERATOR_LOWERINGS).sort();
}

/** Lowers an ONNX model (file bytes or an already parsed graph) at a static input shape. */
export function lowerModel(model: Uint8Array | ModelGraph, options: LowerOptions = {}): Program {
  const graph = model instanceof Uint8Array ? modelGraph(model, { several: true }) : model;
  const { inputs, values } = initialValues(graph, options);
  const steps: Step[] = [];
  for (const op of graph.operators) lowerOperator(op, values, steps);
  return finishProgram(graph, inputs, values, steps);
}

type NamedType = { name: string } & TensorType;

/**
 * The model inputs at their static shapes (checked against the declared ones) and the weights, by name.
 * Inputs are numbered in canonical (ascending UTF-8 byte) name order: input operand i reads entry i of
 * the request's input bundle (protocol/bundle.ts); one input is operand 0, the bare tensor.
 */
function initialValues(graph: ModelGraph, options: LowerOptions): { inputs: NamedType[]; values: Map<string, Value> } {
  const declaredInputs = graph.inputs ?? [graph.input];
  const inputs = canonicalNames(declaredInputs.map((x) => x.name)).map((name): NamedType => {
    const x = declaredInputs.find((d) => d.name === name)!;
    const declared = x.shape;
    const given = declaredInputs.length === 1 ? options.inputShape : options.inputShapes?.[name];
    const inputShape = given ? [...given] : declared.map((d) => (typeof d === "number" ? d : NaN));
    if (inputShape.length !== declared.length || inputShape.some((d, i) => !Number.isInteger(d) || d <= 0 || (typeof declared[i] === "number" && declared[i] !== d))) {
      const which = declaredInputs.length === 1 ? "" : ` for input ${name}`;
      throw canonicalError("TENSOR_SPEC_MISMATCH", `a static input shape matching [${declared}] is needed${which}, got [${inputShape}]`, { declared, inputShape, input: name });
    }
    return { name, dtype: x.dtype, shape: inputShape };
  });
  const values = new Map<string, Value>();
  inputs.forEach((x, index) => values.set(x.name, { type: { dtype: x.dtype, shape: x.shape }, operand: index === 0 ? { source: "input" } : { source: "input", index } }));
  graph.weights.forEach((w, index) => {
    values.set(w.name, { type: { dtype: w.tensor.dtype, shape: [...w.tensor.shape] }, operand: { source: "weight", index }, weight: w.tensor, constant: intConstantOf(w.tensor) });
  });
  return { inputs, values };
}

/**
 * The program from the lowered steps. One output: it must be the last step's tensor. Several (n ≥ 2):
 * n `move reshape` steps are appended, one per output in canonical name order, copying it, so output k
 * is step stepCount − n + k and the programRoot binds which step each output bundle entry is.
 */
function finishProgram(graph: ModelGraph, inputs: NamedType[], values: Map<string, Value>, steps: Step[]): Program {
  const declaredOutputs = graph.outputs ?? [graph.output];
  if (declaredOutputs.length === 1) {
    const out = values.get(graph.output.name);
    const last = steps[steps.length - 1];
    if (out?.operand?.source !== "step" || last === undefined || out.operand.index !== last.index) {
      throw canonicalError("OP_UNSUPPORTED", `the model output ${graph.output.name} is not computed by the program's last step`);
    }
    const output = { name: graph.output.name, ...last.output };
    return { input: inputs[0]!, inputs, weights: graph.weights, steps, output, outputs: [output] };
  }
  const outputs = canonicalNames(declaredOutputs.map((o) => o.name)).map((name): NamedType => {
    const v = values.get(name);
    if (v?.operand === undefined) throw canonicalError("OP_UNSUPPORTED", `the model output ${name} is not computed by a step (a folded constant or an unknown tensor)`);
    const step: Step = {
      index: steps.length,
      kind: "move",
      op: "reshape",
      operands: [v.operand],
      operandTypes: [{ dtype: v.type.dtype, shape: [...v.type.shape] }],
      output: { dtype: v.type.dtype, shape: [...v.type.shape] },
      params: {},
      origin: { node: `output ${name}`, opType: "Identity" },
    };
    steps.push(step);
    return { name, ...step.output };
  });
  return { input: inputs[0]!, inputs, weights: graph.weights, steps, output: outputs[outputs.length - 1]!, outputs };
}

/** What became of one ONNX node when lowering as far as possible (`analyzeModel`). */
export interface NodeLowering {
  index: number;
  opType: string;
  domain: string;
  node: string;
  /** lowered: emitted steps; folded: shape arithmetic, no step; unsupported: refused (reason); blocked: an input comes from a refused node. */
  status: "lowered" | "folded" | "unsupported" | "blocked";
  steps: number;
  reason?: string;
}

export interface ModelAnalysis {
  nodes: NodeLowering[];
  /** The program, when every node lowered and the output is the last step's. */
  program?: Program;
  /** Why there is no program (the first refusal, or the output check). */
  reason?: string;
}

/**
 * Lowers every node it can, recording per node what happened, instead of stopping at the first refused
 * operator (`oracle model check`): a refused node's outputs are unknown, and the nodes reading them are
 * `blocked` (their own support is not decided). Shape errors are refusals too.
 */
export function analyzeModel(model: Uint8Array | ModelGraph, options: LowerOptions = {}): ModelAnalysis {
  const graph = model instanceof Uint8Array ? modelGraph(model, { several: true }) : model;
  const nodes: NodeLowering[] = [];
  let program: Program | undefined;
  let reason: string | undefined;
  const steps: Step[] = [];
  const refused = new Map<string, string>();
  let start: ReturnType<typeof initialValues>;
  try {
    start = initialValues(graph, options);
  } catch (error) {
    const message = (error as Error).message;
    return { nodes: graph.operators.map((op) => ({ index: op.index, opType: op.opType, domain: op.domain, node: nodeLabel(op), status: "blocked", steps: 0, reason: message })), reason: message };
  }
  const { inputs, values } = start;
  for (const op of graph.operators) {
    const node = nodeLabel(op);
    const upstream = op.inputs.find((i) => i.source.kind !== "absent" && refused.has(i.name));
    if (upstream !== undefined) {
      const why = `input ${upstream.name} comes from a refused node (${refused.get(upstream.name)})`;
      for (const o of op.outputs) refused.set(o.name, node);
      nodes.push({ index: op.index, opType: op.opType, domain: op.domain, node, status: "blocked", steps: 0, reason: why });
      continue;
    }
    const before = steps.length;
    try {
      lowerOperator(op, values, steps);
      nodes.push({ index: op.index, opType: op.opType, domain: op.domain, node, status: steps.length > before ? "lowered" : "folded", steps: steps.length - before });
    } catch (error) {
      steps.length = before;
      for (const o of op.outputs) refused.set(o.name, node);
      const message = (error as Error).message;
      reason ??= message;
      nodes.push({ index: op.index, opType: op.opType, domain: op.domain, node, status: "unsupported", steps: 0, reason: message });
    }
  }
  if (reason === undefined) {
    try {
      program = finishProgram(graph, inputs, values, steps);
    } catch (error) {
      reason = (error as Error).message;
    }
  }
  return { nodes, ...(program === undefined ? {} : { program }), ...(reason === undefined ? {} : { reason }) };
}

/**
 * Folded constants a `move constant` step may hold: the dtypes the runtime holds, up to 4,096 values.
 * The step's encoding carries its values (8 bytes each) and a leaf proof on it sends the whole encoding
 * as calldata (the verifier reads only the value it needs): at 4,096 int32 values across their range the
 * whole leaf (proveStep on FraudGame) takes 1.08M gas, under the game's 2M per move
 * (test/attacks/game-leaf-gas.test.ts; docs/CANONICAL.md, "A large constant step"); a larger mask is
 * refused, with this reason.
 */
const MATERIALIZABLE: ReadonlySet<DType> = new Set<DType>(["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32"]);
export const MAX_CONSTANT_STEP = 4096;

function nodeLabel(op: GraphOperator): string {
  return `#${op.index} ${op.opType} -> ${op.outputs.map((o) => o.name).join(", ")}`;
}

function lowerOperator(op: GraphOperator, values: Map<string, Value>, steps: Step[]): void {
  const node = nodeLabel(op);
  if (op.domain !== "" && op.domain !== "ai.onnx") {
    throw canonicalError("OP_UNSUPPORTED", `operator ${op.domain}.${op.opType} (node ${node}) has no canonical definition`, { opType: op.opType, domain: op.domain, node });
  }
  const inputs = op.inputs.map((i) => (i.source.kind === "absent" ? undefined : values.get(i.name)));
  op.inputs.forEach((i, k) => {
    if (i.source.kind !== "absent" && inputs[k] === undefined) throw canonicalError("MODEL_UNKNOWN", `input ${i.name} of node ${node} is not defined`);
  });
  const attributes = new Map<string, AttributeValue>(op.attributes.map((a) => [a.name, a]));

  // Shape arithmetic on integer constants folds into parameters.
  const present = inputs.filter((v): v is Value => v !== undefined);
  const foldable = FOLDABLE_OPS.has(op.opType) && foldsWith(op.opType, attributes) && (op.opType === "Shape" || present.every((v) => v.constant !== undefined && isFoldableDtype(v.type.dtype)));
  if (foldable && op.outputs.length === 1) {
    const c: IntConstant = foldOperator(op.opType, op.opset, attributes, inputs.map((v) => v?.constant), inputs.map((v) => v?.type.shape));
    values.set(op.outputs[0]!.name, { type: { dtype: c.dtype, shape: c.shape }, constant: c });
    return;
  }

  const lowering = OPERATOR_LOWERINGS[op.opType];
  if (lowering === undefined) {
    throw canonicalError("OP_UNSUPPORTED", `operator ${op.opType} (node ${node}) has no canonical definition`, { opType: op.opType, node });
  }
  /**
   * A folded integer or bool constant used as data (a mask built from shape arithmetic) becomes a
   * `move constant` step holding its values, once (the Value keeps the step as its operand).
   */
  const materialize = (v: Value, k: number): Operand => {
    const c = v.constant;
    if (c !== undefined && MATERIALIZABLE.has(c.dtype) && c.values.length > MAX_CONSTANT_STEP) {
      throw canonicalError("OP_UNSUPPORTED", `operand ${k} of ${op.opType} (node ${node}) is a folded constant of ${c.values.length} values used as data: a constant step holds at most ${MAX_CONSTANT_STEP} (MAX_CONSTANT_STEP: a leaf proof sends them all as calldata, within the game's 2M gas per move)`, { node });
    }
    if (c === undefined || !MATERIALIZABLE.has(c.dtype)) {
      throw canonicalError("OP_UNSUPPORTED", `operand ${k} of ${op.opType} (node ${node}) is shape arithmetic used as data${c ? ` (${c.dtype}[${c.shape}])` : ""}`, { node });
    }
    const step: Step = {
      index: steps.length,
      kind: "move",
      op: "constant",
      operands: [],
      operandTypes: [],
      output: { dtype: c.dtype, shape: [...c.shape] },
      params: { values: [...c.values] },
      origin: { node, opType: op.opType },
    };
    steps.push(step);
    return { source: "step", index: step.index };
  };
  const ctx: LowerContext = {
    opType: op.opType,
    opset: op.opset,
    node,
    attributes,
    inputs,
    outputs: op.outputs.length,
    emit(kind, stepOp, operands, output, params = {}) {
      const resolved: Operand[] = operands.map((v, k) => {
        if (v.operand === undefined) v.operand = materialize(v, k);
        return v.operand;
      });
      const step: Step = {
        index: steps.length,
        kind,
        op: stepOp,
        operands: resolved,
        operandTypes: operands.map((v) => ({ dtype: v.type.dtype, shape: [...v.type.shape] })),
        output: { dtype: output.dtype, shape: [...output.shape] },
        params,
        origin: { node, opType: op.opType },
      };
      steps.push(step);
      return { type: step.output, operand: { source: "step", index: step.index } };
    },
    fail(message) {
      return canonicalError("OP_UNSUPPORTED", `${op.opType} (node ${node}): ${message}`, { opType: op.opType, node });
    },
  };
  let results: Value[];
  try {
    results = lowering(ctx);
  } catch (error) {
    if (error instanceof Error && !error.message.includes(node)) error.message = `${op.opType} (node ${node}): ${error.message}`;
    throw error;
  }
  op.outputs.forEach((o, k) => {
    const v = results[k];
    if (v === undefined) throw ctx.fail(`output ${k} (${o.name}) is not supported`);
    values.set(o.name, v);
  });
}

/** The dtype of an ONNX type code, refusing the ones the canonical runtime cannot hold. */
export function dtypeOfCode(code: number, node: string): DType {
  const d = dtypeFromCode(code);
  if (d === undefined || !(d in DTYPES)) throw canonicalError("OP_UNSUPPORTED", `type code ${code} (node ${node}) is not supported`);
  return d;
}

export type { TensorType, Tensor };
