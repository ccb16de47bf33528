/**
 * `oracle model check` for a model with several named inputs or outputs (issue 14): its input shapes (each
 * declared static, or probed at 1s), the encoded size of its output bundle, and the ZK refusal. OPTIMISTIC
 * is judged as for any model (every node lowers, every step verifies on-chain, τ_out calibrated over every
 * output): a dispute proves bundle members (docs/OPTIMISTIC.md "Several inputs and outputs").
 */
import { canonicalNames, DTYPES, HEADER_FIXED_BYTES, numel, type ModelGraph, type Tensor } from "../protocol/index.js";
import type { TensorType } from "../canonical/index.js";
import type { TierVerdict } from "./check.js";

export interface SeveralIO {
  /** Each input's shape (declared; a symbolic dimension probed at 1), by name. */
  inputShapes: Record<string, number[]>;
  /** Every input's declared shape is static. */
  isStatic: boolean;
  /** The inputs after the first, for a plain onnxruntime run. */
  others: { name: string; dtype: Tensor["dtype"]; shape: number[] }[];
  /** `name [dims]` of each input, for the reasons. */
  described: string;
}

export function severalInputs(graph: ModelGraph): SeveralIO {
  const shapeOf = (declared: Array<number | string>) => declared.map((d) => (typeof d === "number" && d > 0 ? d : 1));
  const inputShapes = Object.fromEntries(graph.inputs.map((x) => [x.name, shapeOf(x.shape)]));
  const isStatic = graph.inputs.every((x) => x.shape.every((d) => typeof d === "number" && d > 0));
  const others = graph.inputs.slice(1).map((x) => ({ name: x.name, dtype: x.dtype, shape: inputShapes[x.name]! }));
  const described = graph.inputs.map((x) => `${x.name} [${x.shape.join(",")}]`).join(", ");
  return { inputShapes, isStatic, others, described };
}

/** Bytes of the canonical encoding of the outputs: one tensor bare, several a VIOB bundle (protocol/bundle.ts). */
export function encodedOutputBytes(outputs: readonly ({ name: string } & TensorType)[]): number {
  const tensor = (t: TensorType) => HEADER_FIXED_BYTES + 4 * t.shape.length + numel(t.shape) * DTYPES[t.dtype].size;
  if (outputs.length === 1) return tensor(outputs[0]!);
  return 8 + canonicalNames(outputs.map((o) => o.name)).reduce((a, name) => a + 1 + Buffer.byteLength(name) + 4 + tensor(outputs.find((o) => o.name === name)!), 0);
}

/** ZK: a proof checks one input tensor and one output. */
export function severalZkVerdict(graph: ModelGraph): TierVerdict {
  return {
    allowed: false,
    reasons: [`the model has ${graph.inputs.length} inputs (${graph.inputs.map((i) => i.name).join(", ")}) and ${graph.outputs.length} outputs (${graph.outputs.map((o) => o.name).join(", ")}): a ZK proof checks one input tensor and one output, so such a model is served in NONE and OPTIMISTIC only`],
  };
}
