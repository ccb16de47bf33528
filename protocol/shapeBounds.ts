/**
 * Shape bounds, checked before a model is registered or loaded: unchecked, a 188-byte
 * model reaches 6.4 GiB of resident memory by building a huge tensor from a few constants
 * (ConstantOfShape, Expand, Tile, broadcasting); onnxruntime's constant folding allocates such a
 * tensor while it *opens* the model. `modelShapeProblems` finds every tensor whose size is known
 * before any input is seen and which holds more than `maxElements`:
 *
 * - declared shapes: graph inputs, outputs and value_info (the known dimensions; a symbolic one
 *   counts as 1), initializers and Constant values;
 * - a static shape propagation through the graph (and every subgraph and model-local function)
 *   for the operators that can grow a tensor from small operands: ConstantOfShape, Expand, Tile,
 *   Reshape, Range, Resize/Upsample, Pad, MatMul/Gemm, Conv/ConvTranspose (pads, strides, output
 *   channels), Gather (indices of any shape) and every broadcasting element-wise operator, and the
 *   ones that carry a shape on to them (pooling, Slice, Transpose, Flatten, Squeeze, Unsqueeze,
 *   element-wise), with small integer constants folded through Shape, Cast, Identity, Concat,
 *   Unsqueeze, Squeeze, Slice, Gather and integer Add/Sub/Mul/Div, so a shape built from constants
 *   or sliced from the input's declared shape is seen.
 *
 * A size that depends on the input's values (ConstantOfShape(Cast(x))) cannot be known here: the
 * model process's memory cap (worker/model-process.ts) is the bound there. Unknown operators yield
 * unknown shapes, never a refusal: the check refuses only what it can prove too large.
 */
import onnxProto from "onnx-proto";
import { OracleError } from "./errors.js";
import { inferNode } from "./shapeInfer.js";
import { declaredShape, knownElements, num, tensorConsts, type Scope, type Shape } from "./shapeScope.js";

const onnx = onnxProto.onnx;
type GraphProto = onnxProto.onnx.IGraphProto;

/** Default bound: 2^28 elements (1 GiB of float32) in any one tensor. */
export const DEFAULT_MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Problems reported at most (a hostile model can have millions of nodes). */
const MAX_PROBLEMS = 20;

function checkGraph(graph: GraphProto, parent: Scope | undefined, where: string, maxElements: number, problems: string[]): Scope {
  const scope: Scope = { shapes: new Map(), consts: new Map(), parent };
  const report = (what: string, shape: Shape) => {
    const n = knownElements(shape);
    if (n > maxElements && problems.length < MAX_PROBLEMS) {
      problems.push(`${where}: ${what} has shape [${(shape ?? []).map((d) => d ?? "?").join(", ")}] (${n.toExponential(3)} elements), more than the limit of ${maxElements}`);
    }
  };
  for (const t of graph.initializer ?? []) {
    tensorConsts(scope, t);
    report(`initializer "${t.name ?? ""}"`, (t.dims ?? []).map(num));
  }
  for (const v of graph.input ?? []) {
    const s = declaredShape(v);
    if (!scope.shapes.has(v.name ?? "")) scope.shapes.set(v.name ?? "", s);
    report(`input "${v.name ?? ""}"`, s);
  }
  for (const [kind, list] of [["output", graph.output], ["value_info", graph.valueInfo]] as const) {
    for (const v of list ?? []) report(`${kind} "${v.name ?? ""}"`, declaredShape(v));
  }
  for (const [i, node] of (graph.node ?? []).entries()) {
    const label = `node ${JSON.stringify(node.name || `#${i}`)} (${node.opType ?? "?"})`;
    for (const a of node.attribute ?? []) {
      if (a.t) report(`${label} attribute "${a.name ?? ""}"`, (a.t.dims ?? []).map(num));
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) checkGraph(g, scope, `${where}/${node.opType ?? "?"}.${a.name ?? ""}`, maxElements, problems);
    }
    const inferred = inferNode(node, scope);
    for (const [k, out] of (node.output ?? []).entries()) {
      if (out === "") continue;
      const s = inferred.shapes[k];
      scope.shapes.set(out, s);
      const c = inferred.consts?.[k];
      if (c !== undefined) scope.consts.set(out, c);
      if (node.opType === "Constant") {
        const t = (node.attribute ?? [])[0]?.t;
        if (t) tensorConsts(scope, { ...t, name: out });
      }
      report(`${label} output "${out}"`, s);
    }
  }
  return scope;
}

/**
 * The shape this check infers for every value of the top-level graph (a dimension it cannot know is
 * undefined): for tests that hold the propagation to onnxruntime's real shapes.
 */
export function inferredShapes(bytes: Uint8Array): Map<string, (number | undefined)[] | undefined> {
  const model = onnx.ModelProto.decode(bytes);
  return model.graph ? checkGraph(model.graph, undefined, "graph", Number.POSITIVE_INFINITY, []).shapes : new Map();
}

/**
 * How many times the top-level `graph` field (7) occurs. protobufjs keeps the last copy of a singular
 * message field while onnxruntime's C++ protobuf merges all of them: a second copy could hide the
 * first graph's nodes from this check. No serializer writes two.
 */
function graphFieldCount(bytes: Uint8Array): number {
  let pos = 0;
  let count = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10 && pos < bytes.byteLength; i++) {
      const b = bytes[pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new OracleError("MODEL_UNSAFE", "the model is not a well-formed ONNX protobuf (a bad varint)");
  };
  while (pos < bytes.byteLength) {
    const key = varint();
    const wire = key % 8;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      if (Math.floor(key / 8) === 7) count++;
      pos += length;
    } else throw new OracleError("MODEL_UNSAFE", `the model is not a well-formed ONNX protobuf (wire type ${wire})`);
  }
  return count;
}

/** Every tensor of `bytes` (an ONNX file) known to exceed `maxElements`, described; empty when none. */
export function modelShapeProblems(bytes: Uint8Array, maxElements: number = DEFAULT_MAX_TENSOR_ELEMENTS): string[] {
  const graphs = graphFieldCount(bytes);
  if (graphs > 1) return [`the model has ${graphs} graph fields (a well-formed file has one; onnxruntime would merge them, so no single copy shows what it runs)`];
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OracleError("MODEL_UNSAFE", `the model is not a well-formed ONNX protobuf (${(error as Error).message})`);
  }
  const problems: string[] = [];
  if (model.graph) checkGraph(model.graph, undefined, "graph", maxElements, problems);
  for (const f of model.functions ?? []) {
    checkGraph({ node: f.node ?? [], input: [], output: [] }, undefined, `function ${f.domain ?? ""}.${f.name ?? ""}`, maxElements, problems);
  }
  for (const [i, t] of (model.trainingInfo ?? []).entries()) {
    for (const g of [t.initialization, t.algorithm]) if (g) checkGraph(g, undefined, `training_info ${i}`, maxElements, problems);
  }
  return problems;
}

/**
 * Throws MODEL_TOO_LARGE (never retryable) naming the offending tensors when the model declares or
 * statically builds a tensor of more than `maxElements` elements.
 */
export function assertModelShapesBounded(bytes: Uint8Array, maxElements: number = DEFAULT_MAX_TENSOR_ELEMENTS): void {
  const problems = modelShapeProblems(bytes, maxElements);
  if (problems.length > 0) {
    throw new OracleError("MODEL_TOO_LARGE", `the model builds tensors larger than workers accept: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ""}`, {
      details: { problems, maxElements },
    });
  }
}
