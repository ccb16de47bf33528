/**
 * Issue 14, step 1: models with several named inputs and outputs in the canonical runtime, trace and
 * commitment. The 2-in / 2-out recurrent cell (multi-io-model.ts) lowers with its inputs numbered in
 * canonical name order (input operand i = input bundle entry i) and its outputs appended as copy steps in
 * name order (output k = step stepCount − n + k); the canonical run agrees with onnxruntime on both outputs.
 * models/vad-gru.onnx (a fused GRU) stays refused, naming the GRU node.
 */
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { analyzeModel, CanonicalTrace, commitProgram, encodeStep, lowerModel, outputStep, runProgram, supportedOperators } from "../../canonical/index.js";
import { isError, type Tensor, type TensorData } from "../../protocol/index.js";
import { maxDiff } from "./helpers.js";
import { CELL_OUT, CELL_STATE, cellInputs, multiIoModel } from "./multi-io-model.js";
import { VAD_GRU_FILE } from "../../scripts/stateful-model.js";

async function ortOutputs(bytes: Uint8Array, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, executionProviders: ["cpu"] });
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, new ort.Tensor(t.dtype as "float32", t.data as Float32Array, t.shape)]));
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dtype: t.type as Tensor["dtype"], shape: [...t.dims], data: (t.data as TensorData).slice() as TensorData }]));
  } finally {
    await session.release();
  }
}

describe("canonical programs with several inputs and outputs", () => {
  const bytes = multiIoModel();
  const program = lowerModel(bytes);

  it("numbers inputs and outputs in canonical name order; output k is step stepCount − n + k", () => {
    expect(program.inputs.map((x) => x.name)).toEqual(["state", "x"]);
    expect(program.outputs.map((x) => x.name)).toEqual(["stateN", "y"]);
    const n = program.steps.length;
    expect(outputStep(program, 0)).toBe(n - 2);
    expect(outputStep(program, 1)).toBe(n - 1);
    for (const k of [0, 1]) {
      const s = program.steps[outputStep(program, k)]!;
      expect([s.kind, s.op]).toEqual(["move", "reshape"]);
      expect(s.output.shape).toEqual(k === 0 ? [1, CELL_STATE] : [1, CELL_OUT]);
    }
    // The step reading x carries input index 1 in its encoding (the programRoot binds which entry it reads).
    const readsX = program.steps.find((s) => s.operands.some((o) => o.source === "input" && o.index === 1))!;
    expect([readsX.kind, readsX.op, readsX.operandTypes[0]!.shape]).toEqual(["map", "mul", [1, 16]]);
    const enc = encodeStep(readsX);
    // u8 version | u32 index | u8 kind | str op | u16 #operands | operand 0: u8 source | u32 index
    const at = 6 + 2 + Buffer.byteLength(readsX.op) + 2;
    expect([enc[at], enc.readUInt32BE(at + 1)]).toEqual([1, 1]);
    const readsState = program.steps.find((s) => s.operands.some((o) => o.source === "input" && (o.index ?? 0) === 0))!;
    expect(readsState.operandTypes[0]!.shape).toEqual([1, CELL_STATE]);
  });

  it("runs canonically on both inputs and agrees with onnxruntime on both outputs", async () => {
    const { x, state } = cellInputs(5);
    const run = runProgram(program, [state, x]);
    const ref = await ortOutputs(bytes, { x, state });
    expect(run.outputs.length).toBe(2);
    const d0 = maxDiff(run.outputs[0]!, ref.stateN!);
    const d1 = maxDiff(run.outputs[1]!, ref.y!);
    console.log(`stateN max |diff| ${d0.abs}, y max |diff| ${d1.abs}`);
    expect(d0.abs).toBeLessThan(1e-5);
    expect(d1.abs).toBeLessThan(1e-5);
    // The trace: same run, its outputs the last two step tensors; a commitment like any other program's.
    const trace = CanonicalTrace.build(program, [state, x]);
    expect(trace.inputs).toHaveLength(2);
    expect(trace.outputs.map((t) => t.shape)).toEqual([[1, CELL_STATE], [1, CELL_OUT]]);
    expect(trace.finalHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(commitProgram(program).stepCount).toBe(program.steps.length);
  });

  it("refuses a wrong number of inputs or a misshapen one with a clear error", () => {
    const { x, state } = cellInputs(1);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error("no error");
    };
    const e1 = err(() => runProgram(program, x));
    expect(isError(e1, "TENSOR_SPEC_MISMATCH") && (e1 as Error).message).toMatch(/takes 2 inputs \(state, x\), got 1/);
    const e2 = err(() => runProgram(program, [x, state]));
    expect(isError(e2, "TENSOR_SPEC_MISMATCH") && (e2 as Error).message).toMatch(/input state is float32\[1,16\]/);
  });

  it("keeps models/vad-gru.onnx refused: the fused GRU has no canonical definition (and its int64 sample rate none either)", () => {
    const a = analyzeModel(readFileSync(VAD_GRU_FILE));
    expect(supportedOperators()).not.toContain("GRU");
    const gru = a.nodes.find((n) => n.opType === "GRU")!;
    expect(["unsupported", "blocked"]).toContain(gru.status);
    expect(a.nodes.find((n) => n.opType === "Cast")!.reason).toMatch(/int64 is not supported/);
    expect(a.program).toBeUndefined();
  });
});
