import { beforeAll, describe, expect, it } from "vitest";
import { checkElement, checkTrace, operatorKernel } from "../../challenger/index.js";
import { type ModelCommitment, type Tensor, commitTrace } from "../../protocol/index.js";
import { batchSlicedTrace, clsCommitment, clsInput, copy, nodeTrace, wasmTrace } from "./fixtures.js";

let commitment: ModelCommitment;
let input: Tensor;
const honest: Record<string, Tensor[]> = {};

beforeAll(async () => {
  commitment = await clsCommitment();
  input = clsInput();
  honest["disabled, 1 thread"] = await nodeTrace(input, { level: "disabled", threads: 1 });
  honest["basic, 1 thread"] = await nodeTrace(input, { level: "basic", threads: 1 });
  honest["all, 1 thread"] = await nodeTrace(input, { level: "all", threads: 1 });
  honest["all, 2 threads"] = await nodeTrace(input, { level: "all", threads: 2 });
  honest["all, item 2 of a batch of 4"] = await batchSlicedTrace(input, 2, honest["disabled, 1 thread"]);
  honest["onnxruntime-web wasm, 1 thread"] = await wasmTrace(input);
});

const baseline = () => honest["all, 1 thread"]!;

/** The operator index producing trace tensor `traceIndex`. */
function producer(traceIndex: number): number {
  return commitment.operators.find((op) => op.outputs.some((o) => o.trace === traceIndex))!.index;
}

/** An element of a float tensor whose value is large next to its terms (so a 1e-3 change is measurable). */
function wellConditioned(tensors: Tensor[], opIndex: number): number {
  const kernel = operatorKernel(commitment, { input, tensors }, opIndex);
  const n = tensors[commitment.operators[opIndex]!.outputs[0]!.trace]!.data.length;
  let best = 0;
  let bestRatio = 0;
  for (let i = 0; i < n; i++) {
    const e = kernel.element(0, i);
    const ratio = Math.abs(Number(e.value)) / (e.magnitude + 1e-30);
    if (ratio > bestRatio) [best, bestRatio] = [i, ratio];
  }
  return best;
}

describe("checkTrace on the PP-OCR classifier", () => {
  it("test_checkTrace_honestTraces_acrossRuntimes_succeeds", () => {
    expect(Object.keys(honest)).toHaveLength(6);
    for (const [condition, tensors] of Object.entries(honest)) {
      const result = checkTrace(commitment, { input, tensors });
      expect({ condition, ...result }).toMatchObject({ condition, ok: true, checkedOperators: 221 });
      expect(result.checkedElements).toBeGreaterThan(3_000_000);
    }
    // The conditions really differ: the final outputs are not all bit-identical.
    const outputs = new Set(Object.values(honest).map((t) => Array.from(t.at(-1)!.data as Float32Array).join()));
    expect(outputs.size).toBeGreaterThan(1);
  });

  it("test_checkTrace_oneIntermediateElementOff1e-3_caughtAtThatOperator", () => {
    const tensors = baseline().map(copy);
    const conv = commitment.operators.filter((o) => o.opType === "Conv")[20]!;
    const traceIndex = conv.outputs[0]!.trace;
    const element = wellConditioned(tensors, conv.index);
    const data = tensors[traceIndex]!.data as Float32Array;
    data[element] = data[element]! * (1 + 1e-3);
    const result = checkTrace(commitment, { input, tensors });
    expect(result.ok).toBe(false);
    expect(result.fault).toMatchObject({ reason: "value", opIndex: conv.index, opType: "Conv", traceIndex, element });
    expect(Math.abs(Number(result.fault!.claimed) - Number(result.fault!.recomputed))).toBeGreaterThan(result.fault!.bound);
    // The one-step check of that element alone agrees, and its honest neighbour passes.
    expect(checkElement(commitment, { input, tensors }, conv.index, 0, element).ok).toBe(false);
    expect(checkElement(commitment, { input, tensors }, conv.index, 0, element === 0 ? 1 : 0).ok).toBe(true);
  });

  it("test_checkTrace_flippedSign_caughtAtThatOperator", () => {
    const tensors = baseline().map(copy);
    const bn = commitment.operators.filter((o) => o.opType === "BatchNormalization")[10]!;
    const data = tensors[bn.outputs[0]!.trace]!.data as Float32Array;
    const element = data.findIndex((v) => Math.abs(v) > 0.1);
    data[element] = -data[element]!;
    expect(checkTrace(commitment, { input, tensors }).fault).toMatchObject({ opIndex: bn.index, element });
  });

  it("test_checkTrace_onlyFinalOutputAltered_caughtAtLastOperator", () => {
    const tensors = baseline().map(copy);
    const out = tensors.at(-1)!.data as Float32Array;
    out[1] = out[1]! * (1 + 1e-3);
    const result = checkTrace(commitment, { input, tensors });
    expect(result.fault).toMatchObject({ opIndex: commitment.operators.length - 1, opType: "Softmax", element: 1 });
  });

  it("test_checkTrace_exactOperatorAltered_caughtWithZeroBound", () => {
    const tensors = baseline().map(copy);
    const relu = commitment.operators.find((o) => o.opType === "Relu")!;
    const data = tensors[relu.outputs[0]!.trace]!.data as Float32Array;
    const element = data.findIndex((v) => v > 0);
    data[element] = Math.fround(data[element]! * (1 + 2 ** -20));
    expect(checkTrace(commitment, { input, tensors }).fault).toMatchObject({ opIndex: relu.index, element, bound: 0 });
  });

  it("test_checkTrace_sampled_catchesWrongTensor_andIsDeterministic", () => {
    const tensors = baseline().map(copy);
    const target = commitment.operators.filter((o) => o.opType === "Conv")[30]!;
    const data = tensors[target.outputs[0]!.trace]!.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * 1.01 + 1e-3;
    const a = checkTrace(commitment, { input, tensors }, { fraction: 0.01, seed: 7 });
    const b = checkTrace(commitment, { input, tensors }, { fraction: 0.01, seed: 7 });
    expect(a.fault).toMatchObject({ opIndex: target.index });
    expect(b).toEqual(a);
    expect(a.checkedElements).toBeLessThan(40_000);
    expect(checkTrace(commitment, { input, tensors: baseline() }, { fraction: 0.01, seed: 7 }).ok).toBe(true);
  });

  it("test_checkTrace_wrongShape_typeFault", () => {
    const tensors = baseline().map(copy);
    tensors[5] = { ...tensors[5]!, shape: [...tensors[5]!.shape.slice(0, -1), 1, tensors[5]!.shape.at(-1)!] };
    expect(checkTrace(commitment, { input, tensors }).fault).toMatchObject({ reason: "type", traceIndex: 5, opIndex: producer(5) });
    expect(checkTrace(commitment, { input, tensors: tensors.slice(0, -1) }).ok).toBe(false);
  });

  it("test_commitTrace_anyTensorChanged_rootChanges", () => {
    const root = commitTrace(baseline()).traceRoot;
    expect(commitTrace(baseline().map(copy)).traceRoot).toBe(root);
    for (const index of [0, 57, 150, 219, 220]) {
      const tensors = baseline().map(copy);
      const t = tensors[index]!;
      if (t.dtype === "int64") (t.data as BigInt64Array)[0] = (t.data as BigInt64Array)[0]! + 1n;
      else if (t.dtype === "int32") (t.data as Int32Array)[0] = (t.data as Int32Array)[0]! + 1;
      else (t.data as Float32Array)[t.data.length - 1] = Math.fround((t.data as Float32Array)[t.data.length - 1]! + 2 ** -20);
      expect(commitTrace(tensors).traceRoot, `tensor ${index}`).not.toBe(root);
    }
  });
});
