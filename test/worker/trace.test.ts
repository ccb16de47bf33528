import ort from "onnxruntime-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTrace, fetchTrace } from "../../challenger/index.js";
import { sha256, toHex } from "../../protocol/merkle.js";
import { encodeTensor } from "../../protocol/tensor.js";
import { checkpointIndices, commitCheckpoints, commitTrace, committedIndices, manifestHashes, UNCOMMITTED_HASH } from "../../protocol/trace.js";
import { hashTensor } from "../../protocol/tensor.js";
import type { Hex } from "../../protocol/types.js";
import { WorkerConfigSchema } from "../../worker/config.js";
import { FullTraceBuilder, noTrace, publishTrace, TraceSession, ZERO_TRACE_ROOT } from "../../worker/trace.js";
import { blobStore, CLS_MODEL_PATH, clsCommitment, clsInput, clsModelBytes } from "../challenger/fixtures.js";

let store: Awaited<ReturnType<typeof blobStore>>;

async function fetchManifest(root: Hex) {
  const blob = store.blobs.get(root.toLowerCase());
  return blob === undefined ? undefined : (await import("../../protocol/tensor.js")).decodeTensor(blob);
}
let session: TraceSession;
beforeAll(async () => {
  store = await blobStore();
  session = await TraceSession.open(clsModelBytes(), { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
});
afterAll(async () => {
  await session.release();
  store.server.close();
});

describe("trace builder", () => {
  it("test_TraceSession_run_commitsEveryOperatorOutput_lastIsOutput", async () => {
    const commitment = await clsCommitment();
    const run = await session.run(clsInput());
    expect(run.tensors).toHaveLength(commitment.traceTypes.length);
    run.tensors.forEach((t, i) => expect({ dtype: t.dtype, shape: t.shape }).toEqual(commitment.traceTypes[i]));
    expect(run.tensors.at(-1)!.shape).toEqual([1, 2]);
    expect((await session.run(clsInput())).traceRoot).toBe(run.traceRoot);
    expect((await session.run(clsInput(true))).traceRoot).not.toBe(run.traceRoot);
    expect(checkTrace(commitment, { input: clsInput(), tensors: run.tensors }, { fraction: 0.02, seed: 3 }).ok).toBe(true);
  });

  it("test_publishTrace_thenFetchTraceByRootAlone_succeeds", async () => {
    const run = await session.run(clsInput());
    const published = await publishTrace(store.url, run, { timeoutMs: 10_000 });
    expect(published.blobs).toBe(run.tensors.length + 1);
    expect(store.blobs.has(run.traceRoot.toLowerCase())).toBe(true);
    const fetched = await fetchTrace(store.url, run.traceRoot);
    expect(fetched.hashes).toEqual(run.hashes);
    expect(fetched.tensors.map((t) => encodeTensor(t).equals(encodeTensor(run.tensors[fetched.tensors.indexOf(t)]!)))).not.toContain(false);
    await expect(fetchTrace(store.url, toHex(sha256(Buffer.from("nothing"))) as Hex)).rejects.toMatchObject({ code: "TRACE_UNAVAILABLE" });
  });

  it("test_FullTraceBuilder_build_returnsRootAndTracedOutput", async () => {
    const builder = new FullTraceBuilder({ modelPath: async () => CLS_MODEL_PATH, blobStoreUrl: store.url, settings: { intraOpNumThreads: 1 }, logger: pino({ level: "silent" }) });
    const input = clsInput();
    const context = { job: { requestId: "0x01" }, model: { modelHash: toHex(sha256(clsModelBytes())), uris: [CLS_MODEL_PATH] }, input, output: input, provider: "cpu" } as never;
    const outcome = await builder.build(context);
    expect(outcome.output!.shape).toEqual([1, 2]);
    expect(store.blobs.has(outcome.traceRoot.toLowerCase())).toBe(true);
    await builder.close();
    await builder.close();
    expect(await noTrace.build(context)).toEqual({ traceRoot: ZERO_TRACE_ROOT });
  });

  it("test_checkpointIndices_everyKth_named_andAlwaysTheLast", () => {
    const names = Array.from({ length: 10 }, (_, i) => `t${i}`);
    expect(checkpointIndices(names, { every: 4 })).toEqual([3, 7, 9]);
    expect(checkpointIndices(names, { every: 5 })).toEqual([4, 9]);
    expect(checkpointIndices(names, { every: 0, names: ["t2", "nope"] })).toEqual([2, 9]);
    expect(checkpointIndices(names, { every: 1 })).toEqual(names.map((_, i) => i));
    expect(checkpointIndices([], { every: 3 })).toEqual([]);
    expect(() => checkpointIndices(names, { every: -1 })).toThrow(RangeError);
  });

  it("test_commitCheckpoints_zeroRowsForUncommitted_allIndicesEqualsFullCommit", () => {
    const tensors = [1, 2, 3].map((v) => ({ dtype: "float32" as const, shape: [2], data: new Float32Array([v, -v]) }));
    expect(commitCheckpoints(3, [0, 1, 2], tensors)).toEqual(commitTrace(tensors));
    const c = commitCheckpoints(3, [2], [tensors[2]!]);
    expect(c.hashes).toEqual([UNCOMMITTED_HASH, UNCOMMITTED_HASH, hashTensor(tensors[2]!)]);
    expect(manifestHashes(c.manifest)).toEqual(c.hashes);
    expect(c.traceRoot).toBe(hashTensor(c.manifest));
    expect(committedIndices(c.hashes)).toEqual([2]);
    expect(() => commitCheckpoints(3, [3], [tensors[0]!])).toThrow(RangeError);
    expect(() => commitCheckpoints(3, [0, 1], [tensors[0]!])).toThrow(RangeError);
  });

  it("test_TraceSession_checkpointRun_tensorsAreTheFullTracesRows", async () => {
    const full = await session.run(clsInput());
    const n = full.hashes.length;
    const indices = checkpointIndices(session.graph.traceNames, { every: 16 });
    const cp = await session.run(clsInput(), indices);
    expect(cp.indices).toEqual(indices);
    expect(cp.tensors).toHaveLength(indices.length);
    expect(cp.hashes).toHaveLength(n);
    cp.hashes.forEach((h, i) => expect(h).toBe(indices.includes(i) ? full.hashes[i] : UNCOMMITTED_HASH));
    expect(committedIndices(cp.hashes)).toEqual(indices);
    expect(cp.traceRoot).not.toBe(full.traceRoot);
    expect(encodeTensor(cp.tensors.at(-1)!).equals(encodeTensor(full.tensors.at(-1)!))).toBe(true);
    await expect(session.run(clsInput(), [0])).rejects.toThrow(/last trace tensor/);
  });

  it("test_FullTraceBuilder_checkpoint_publishesOnlyCommittedTensorsAndTheManifest", async () => {
    const builder = new FullTraceBuilder({
      modelPath: async () => CLS_MODEL_PATH,
      blobStoreUrl: store.url,
      settings: { intraOpNumThreads: 1 },
      checkpoint: { every: 32 },
      logger: pino({ level: "silent" }),
    });
    const before = store.blobs.size;
    const input = clsInput(true);
    const context = { job: { requestId: "0x02" }, model: { modelHash: toHex(sha256(clsModelBytes())), uris: [CLS_MODEL_PATH] }, input } as never;
    const outcome = await builder.build(context);
    await builder.close();
    const hashes = manifestHashes((await fetchManifest(outcome.traceRoot))!);
    const committed = committedIndices(hashes);
    expect(committed).toEqual(checkpointIndices(session.graph.traceNames, { every: 32 }));
    expect(outcome.stats).toMatchObject({ committed: committed.length, tensors: hashes.length });
    for (const i of committed) expect(store.blobs.has(hashes[i]!.toLowerCase())).toBe(true);
    expect(store.blobs.size - before).toBeLessThanOrEqual(committed.length + 1);
    expect(outcome.output!.shape).toEqual([1, 2]);
    // The challenger reports a checkpoint trace as partial instead of taking its zero rows for withheld data.
    await expect(fetchTrace(store.url, outcome.traceRoot)).rejects.toMatchObject({ code: "TRACE_PARTIAL", details: { uncommitted: hashes.length - committed.length } });
  });

  it("test_WorkerConfig_trace_defaultsToNone", () => {
    const base = { signerKey: `0x${"11".repeat(32)}`, allowedOracles: [{ chainId: 1, oracle: `0x${"22".repeat(20)}` }] };
    expect(WorkerConfigSchema.parse(base).trace).toBe("none");
    expect(WorkerConfigSchema.parse({ ...base, trace: "full" }).trace).toBe("full");
    expect(WorkerConfigSchema.safeParse({ ...base, trace: "some" }).success).toBe(false);
    const cp = WorkerConfigSchema.parse({ ...base, trace: "checkpoint" });
    expect(cp.trace).toBe("checkpoint");
    expect(cp.traceCheckpoints).toEqual({ every: 16, names: [] });
    expect(WorkerConfigSchema.parse({ ...base, traceCheckpoints: { every: "4", names: ["conv1"] } }).traceCheckpoints).toEqual({ every: 4, names: ["conv1"] });
    expect(WorkerConfigSchema.parse({ ...base, inferenceThread: "false" }).inferenceThread).toBe(false);
    expect(WorkerConfigSchema.parse(base).inferenceThread).toBe(true);
  });

  it("test_traceOverhead_measured", async () => {
    const plain = await ort.InferenceSession.create(clsModelBytes(), { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
    const input = clsInput();
    const feed = { x: new ort.Tensor("float32", input.data as Float32Array, input.shape) };
    const time = async (fn: () => Promise<unknown>) => {
      for (let i = 0; i < 3; i++) await fn();
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) await fn();
      return (performance.now() - t0) / 20;
    };
    const plainMs = await time(() => plain.run(feed));
    let hashMs = 0;
    let runMs = 0;
    const traceMs = await time(async () => {
      const r = await session.run(input);
      hashMs += r.timings.hash / 23;
      runMs += r.timings.run / 23;
    });
    const run = await session.run(input);
    const traceBytes = run.tensors.reduce((n, t) => n + encodeTensor(t).byteLength, 0) + encodeTensor(run.manifest).byteLength;
    console.log(JSON.stringify({ plainMs, traceMs, runMs, hashMs, ratio: traceMs / plainMs, traceBytes, outputBytes: encodeTensor(run.tensors.at(-1)!).byteLength, blobs: run.tensors.length + 1 }));
    await plain.release();
    expect(traceBytes).toBeGreaterThan(1_000_000);
  });
});
