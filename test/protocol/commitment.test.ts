import { describe, expect, it } from "vitest";
import { commitModel, decodeOnnx, encodeOperatorEntry, modelGraph, onnx } from "../../protocol/commitment.js";
import { hashTensor } from "../../protocol/tensor.js";
import { commitTrace, manifestHashes, traceManifest, traceRootOf } from "../../protocol/trace.js";
import { CLS_INPUT_SHAPE, clsCommitment, clsModelBytes } from "../challenger/fixtures.js";

describe("model commitment (PP-OCR cls)", () => {
  it("test_commitModel_sameFile_sameRoots", async () => {
    const a = await clsCommitment();
    const b = await commitModel(clsModelBytes(), { inputShape: CLS_INPUT_SHAPE });
    expect(b.root).toBe(a.root);
    expect(b.weightsRoot).toBe(a.weightsRoot);
    expect(b.opsRoot).toBe(a.opsRoot);
    // Pinned: a change here changes every deployed commitment (docs/OPTIMISTIC.md).
    expect(a.root).toBe("0x7a6749c9da547f0bf6bf88b3543785bf99546a81e7eb835ebe66ad187e446a70");
    expect(a.weightsRoot).toBe("0xb5bcdc4af3e80c7b26bd80f6edd9fbdf03ca4c33059ea9b81ab54322e8b98703");
    expect(a.opsRoot).toBe("0x3d313cf375f3de1f05ac36217bf1c5a6e2efd9ab11c9a20422a4c60751e41084");
  });

  it("test_commitModel_everyOperator_inTable", async () => {
    const c = await clsCommitment();
    const nodes = decodeOnnx(clsModelBytes()).graph!.node!;
    const operators = nodes.filter((n) => n.opType !== "Constant");
    expect(c.operators.map((o) => o.opType).sort()).toEqual(operators.map((n) => n.opType!).sort());
    expect(c.weights).toHaveLength(nodes.length - operators.length);
    expect(new Set(c.operators.map((o) => o.opType))).toEqual(
      new Set(["Conv", "BatchNormalization", "Add", "Clip", "Mul", "Div", "Relu", "GlobalAveragePool", "HardSigmoid", "MaxPool", "Shape", "Cast", "Slice", "Concat", "Reshape", "MatMul", "Softmax"]),
    );
    // Topological: every trace input is produced by an earlier operator; the last output is the model's.
    for (const op of c.operators) for (const i of op.inputs) if (i.source.kind === "trace") expect(i.source.index).toBeLessThan(op.outputs[0]!.trace);
    expect(c.traceTypes.at(-1)).toEqual({ dtype: "float32", shape: [1, 2] });
    expect(c.output.name).toBe(c.operators.at(-1)!.outputs[0]!.name);
    const conv = c.operators.find((o) => o.opType === "Conv")!;
    expect(conv.inputs.map((i) => i.source.kind)).toEqual(["input", "weight"]);
    expect(conv.outputTypes[0]).toEqual({ dtype: "float32", shape: [1, 8, 24, 96] });
    expect(encodeOperatorEntry(conv)[0]).toBe(1);
  });

  it("test_commitModel_oneWeightChanged_weightsRootChanges", async () => {
    const model = decodeOnnx(clsModelBytes());
    const node = model.graph!.node!.find((n) => n.opType === "Constant" && n.output![0] === "conv2d_0.w_0")!;
    const t = node.attribute![0]!.t!;
    const raw = Buffer.from(t.rawData!);
    raw.writeFloatLE(raw.readFloatLE(0) + 1e-3, 0);
    t.rawData = raw;
    const changed = await commitModel(onnx.ModelProto.encode(model).finish(), { inputShape: CLS_INPUT_SHAPE });
    const honest = await clsCommitment();
    expect(changed.weightsRoot).not.toBe(honest.weightsRoot);
    expect(changed.root).not.toBe(honest.root);
    expect(changed.opsRoot).toBe(honest.opsRoot);
  });

  it("test_commitModel_dynamicInputWithoutShape_throws", async () => {
    await expect(commitModel(clsModelBytes())).rejects.toMatchObject({ code: "MODEL_UNKNOWN" });
    expect(modelGraph(clsModelBytes()).traceNames).toHaveLength(221);
  });
});

describe("trace manifest", () => {
  it("test_traceRoot_isManifestTensorHash_roundTrips", () => {
    const tensors = [1, 2, 3].map((v) => ({ dtype: "float32" as const, shape: [2], data: new Float32Array([v, -v]) }));
    const c = commitTrace(tensors);
    expect(c.traceRoot).toBe(hashTensor(traceManifest(c.hashes)));
    expect(c.traceRoot).toBe(traceRootOf(c.hashes));
    expect(manifestHashes(c.manifest)).toEqual(c.hashes);
    expect(c.manifest.shape).toEqual([3, 32]);
    expect(() => manifestHashes({ dtype: "uint8", shape: [3, 31], data: new Uint8Array(93) })).toThrow(/uint8 \[n, 32\]/);
  });
});
