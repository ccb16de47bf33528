/**
 * Batched traced runs (worker/trace.ts): concurrent traced jobs for one model share one run of the
 * trace session; each request's trace is item i of the batch's float tensors and the batch-1 trace's
 * shape-derived tensors, and the challenger's checker accepts it as honest against its own input.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTrace, fetchTrace } from "../../challenger/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { onnx } from "../../protocol/commitment.js";
import { sha256, toHex } from "../../protocol/merkle.js";
import { decodeTensor, encodeTensor, hashTensor, type Tensor } from "../../protocol/tensor.js";
import { checkpointIndices, committedIndices, manifestHashes } from "../../protocol/trace.js";
import type { Hex } from "../../protocol/types.js";
import { WorkerConfigSchema } from "../../worker/config.js";
import { FullTraceBuilder, TraceSession, type TraceOutcome } from "../../worker/trace.js";
import { blobStore, CLS_MODEL_PATH, clsCommitment, clsModelBytes } from "../challenger/fixtures.js";
import { silentLogger, tempDir } from "./fixtures.js";

let store: Awaited<ReturnType<typeof blobStore>>;
const CLS_HASH = toHex(sha256(clsModelBytes())) as Hex;
const inputs: Tensor[] = [
  textLineTensor("Honest workers win", {}),
  textLineTensor("Honest workers win", { rotated: true }),
  textLineTensor("batch of four", {}),
  textLineTensor("slices per request", { rotated: true }),
];

function context(i: number, modelHash: Hex = CLS_HASH, uri = CLS_MODEL_PATH, input: Tensor = inputs[i]!) {
  return { job: { requestId: `0x0${i}` }, model: { modelHash, uris: [uri] }, input } as never;
}

function builder(extra: Partial<ConstructorParameters<typeof FullTraceBuilder>[0]> = {}, modelPath = CLS_MODEL_PATH) {
  return new FullTraceBuilder({
    modelPath: async () => modelPath,
    blobStoreUrl: store.url,
    settings: { intraOpNumThreads: 1 },
    batching: () => ({ maxBatch: 4, maxWaitMs: 2_000 }),
    logger: silentLogger(),
    ...extra,
  });
}

function manifestOf(root: Hex): Hex[] {
  return manifestHashes(decodeTensor(store.blobs.get(root.toLowerCase())!));
}

beforeAll(async () => {
  store = await blobStore();
});
afterAll(() => {
  store.server.close();
});

describe("batched traces", () => {
  let full: TraceOutcome[];

  it("test_FullTraceBuilder_batchOf4ClsJobs_eachTraceChecksHonestAgainstItsOwnInput", async () => {
    const b = builder();
    try {
      full = await Promise.all(inputs.map((_, i) => b.build(context(i))));
      expect(b.lane(CLS_HASH)!.batches).toEqual([4]);
    } finally {
      await b.close();
    }
    const commitment = await clsCommitment();
    expect(new Set(full.map((o) => o.traceRoot)).size).toBe(4);
    for (const [i, outcome] of full.entries()) {
      expect(outcome.stats).toMatchObject({ batch: 4 });
      const trace = await fetchTrace(store.url, outcome.traceRoot);
      expect(trace.tensors).toHaveLength(commitment.traceTypes.length);
      trace.tensors.forEach((t, j) => expect({ dtype: t.dtype, shape: t.shape }).toEqual(commitment.traceTypes[j]));
      // The signed output is the trace's last tensor.
      expect(encodeTensor(trace.tensors.at(-1)!).equals(encodeTensor(outcome.output!))).toBe(true);
      const check = checkTrace(commitment, { input: inputs[i]!, tensors: trace.tensors }, { fraction: 1 });
      expect(check.ok, JSON.stringify(check.fault)).toBe(true);
      // Against another request's input the same trace is caught.
      expect(checkTrace(commitment, { input: inputs[(i + 1) % 4]!, tensors: trace.tensors }, { fraction: 1 }).ok).toBe(false);
    }
    // The two distinct classes come out as a batch-1 run would say.
    const alone = await TraceSession.open(clsModelBytes(), { intraOpNumThreads: 1, threaded: false });
    try {
      for (const [i, outcome] of full.entries()) {
        const single = (await alone.run(inputs[i]!)).tensors.at(-1)!.data as Float32Array;
        const batched = outcome.output!.data as Float32Array;
        for (let k = 0; k < single.length; k++) expect(Math.abs(batched[k]! - single[k]!)).toBeLessThan(1e-4);
      }
    } finally {
      await alone.release();
    }
  });

  it("test_FullTraceBuilder_checkpointBatch_commitsTheFullBatchedTracesRows", async () => {
    const every = 16;
    const b = builder({ checkpoint: { every } });
    let outcomes: TraceOutcome[];
    try {
      outcomes = await Promise.all(inputs.map((_, i) => b.build(context(i))));
      expect(b.lane(CLS_HASH)!.batches).toEqual([4]);
    } finally {
      await b.close();
    }
    const commitment = await clsCommitment();
    const names = commitment.operators.flatMap((op) => op.outputs.map((o) => o.name));
    const expected = checkpointIndices(names, { every });
    for (const [i, outcome] of outcomes.entries()) {
      expect(outcome.stats).toMatchObject({ batch: 4, committed: expected.length });
      const hashes = manifestOf(outcome.traceRoot);
      expect(committedIndices(hashes)).toEqual(expected);
      // Same batch, same session settings: each committed row is the full batched trace's row.
      const fullHashes = manifestOf(full[i]!.traceRoot);
      for (const j of expected) {
        expect(hashes[j]).toBe(fullHashes[j]);
        expect(store.blobs.has(hashes[j]!.toLowerCase())).toBe(true);
      }
      expect(hashes.at(-1)).toBe(hashTensor(outcome.output!));
      expect(encodeTensor(outcome.output!).equals(encodeTensor(full[i]!.output!))).toBe(true);
    }
  });

  it("test_FullTraceBuilder_zkTierOrNoPolicy_tracesOneByOne", async () => {
    const single = builder({ batching: undefined });
    const zk = builder();
    try {
      const a = await Promise.all(inputs.map((_, i) => single.build(context(i))));
      expect(single.lane(CLS_HASH)!.batches).toEqual([1, 1, 1, 1]);
      const z = await Promise.all(inputs.map((_, i) => zk.build({ ...(context(i) as object), batchable: false } as never)));
      expect(zk.lane(CLS_HASH)!.batches).toEqual([1, 1, 1, 1]);
      a.forEach((o, i) => {
        expect(o.stats).toMatchObject({ batch: 1 });
        expect(z[i]!.traceRoot).toBe(o.traceRoot);
      });
    } finally {
      await single.close();
      await zk.close();
    }
  });

  /** Four traced requests on a one-input model made of `nodes`: one batched run that is refused, then single runs. */
  async function expectFallback(name: string, nodes: object[], output: (v: number) => number[], reason: RegExp) {
    const dim = (d: number | string) => (typeof d === "number" ? { dimValue: d } : { dimParam: d });
    const type = { tensorType: { elemType: 1, shape: { dim: [dim("N"), dim(4)] } } };
    const model = onnx.ModelProto.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 13 }],
      graph: { name, input: [{ name: "x", type }], output: [{ name: "y", type }], node: nodes },
    });
    const { dir, cleanup } = await tempDir();
    const file = join(dir, `${name}.onnx`);
    const bytes = onnx.ModelProto.encode(model).finish();
    writeFileSync(file, bytes);
    const hash = toHex(sha256(bytes)) as Hex;
    const warnings: unknown[] = [];
    const logger = silentLogger();
    const b = builder({ logger: Object.assign(Object.create(logger), { child: () => ({ warn: (o: unknown) => warnings.push(o), debug: () => undefined }) }) }, file);
    try {
      const xs = [1, 2, 3, 4].map((v): Tensor => ({ dtype: "float32", shape: [1, 4], data: new Float32Array([v, v, v, v]) }));
      const first = await Promise.all(xs.map((x, i) => b.build(context(i, hash, file, x))));
      const again = await Promise.all(xs.map((x, i) => b.build(context(i, hash, file, x))));
      // One batched run (refused), its four requests run alone, then batching stays off.
      expect(b.lane(hash)!.batches).toEqual([4, 1, 1, 1, 1, 1, 1, 1, 1]);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toMatch(reason);
      [...first, ...again].forEach((o, k) => {
        expect(o.stats).toMatchObject({ batch: 1 });
        expect([...(o.output!.data as Float32Array)]).toEqual(output((k % 4) + 1));
      });
    } finally {
      await b.close();
      await cleanup();
    }
  }

  it("test_FullTraceBuilder_unsliceableTrace_fallsBackToSingleRuns", async () => {
    // y = x + ReduceSum(x): the sum mixes the batch's items into a float [1, 1] tensor that is
    // neither batch-major nor shape-derived, so the batched trace cannot be split per request.
    await expectFallback(
      "mix",
      [
        { opType: "ReduceSum", input: ["x"], output: ["s"], attribute: [{ name: "keepdims", type: 2, i: 1 }] },
        { opType: "Add", input: ["x", "s"], output: ["y"] },
      ],
      (v) => [5 * v, 5 * v, 5 * v, 5 * v],
      /neither batch-major float nor shape-derived/,
    );
  });

  it("test_FullTraceBuilder_batchMajorTensorMixingItems_fallsBackToSingleRuns", async () => {
    // y = Softmax(x, axis 0): batch-major by shape, but every item depends on the others; item 0 of
    // the batch differs from its run alone, so the trace is not split (alone, each y is all ones).
    await expectFallback(
      "softmax0",
      [{ opType: "Softmax", input: ["x"], output: ["y"], attribute: [{ name: "axis", type: 2, i: 0 }] }],
      () => [1, 1, 1, 1],
      /the items interact/,
    );
  });

  it("test_WorkerConfig_traceBatching_defaultsOn_switchOff", () => {
    const base = { signerKey: `0x${"11".repeat(32)}`, allowedOracles: [{ chainId: 1, oracle: `0x${"22".repeat(20)}` }] };
    expect(WorkerConfigSchema.parse(base).traceBatching).toBe(true);
    expect(WorkerConfigSchema.parse({ ...base, traceBatching: "false" }).traceBatching).toBe(false);
    expect(WorkerConfigSchema.safeParse({ ...base, traceBatching: "maybe" }).success).toBe(false);
  });
});
