/** The inference lane (one run at a time per model), dynamic batching, and results signed a batch at a time. */
import ort from "onnxruntime-node";
import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  QUEUES,
  ResultBatchMessageSchema,
  Tier,
  decodeTensor,
  encodeTensor,
  hashEncoded,
  oracleDomain,
  type BatchItem,
  type Job,
  type Tensor,
  bytesOf,
  recoverResultBatchSigner,
} from "../../protocol/index.js";
import { InProcessQueue, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { concatBatch, dynamicBatchDim, InferenceBatcher, splitBatch, type BatcherBackend } from "../../worker/batcher.js";
import { batchPolicyFor, loadWorkerConfig } from "../../worker/config.js";
import { FastSigner } from "../../worker/signer.js";
import { textLineTensor } from "../../examples/text-images.js";
import { CHAIN_ID, CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_PATH, CLS_URI, ORACLE, SIGNER_KEY, randomHash, silentLogger, tempDir, waitFor } from "./fixtures.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function vec(values: number[]): Tensor {
  return { dtype: "float32", shape: [1, values.length], data: Float32Array.from(values) };
}

/** A fake model: output = 2 * input, taking `delayMs`; records concurrency and run sizes. */
function fakeBackend(delayMs: number, batchable = true) {
  const state = { inFlight: 0, maxInFlight: 0, runs: [] as number[] };
  const backend: BatcherBackend<null> = {
    async run(input) {
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      state.runs.push(input.shape[0]!);
      await sleep(delayMs);
      state.inFlight -= 1;
      return { dtype: "float32", shape: [...input.shape], data: Float32Array.from(input.data as Float32Array, (x) => 2 * x) };
    },
    batchable: () => batchable,
  };
  return { backend, state };
}

describe("InferenceBatcher", () => {
  it("test_lane_depth2_handsTheNextRunOverWhileOneRuns_resultsStayPerRequest", async () => {
    const { backend, state } = fakeBackend(3);
    const lane = new InferenceBatcher(backend, { maxBatch: 1, maxWaitMs: 0, depth: 2 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => lane.submit(vec([i]), null)));
    expect(state.maxInFlight).toBe(2);
    expect(lane.maxInFlight).toBe(2);
    results.forEach((r, i) => expect(Array.from(r.output.data as Float32Array)).toEqual([2 * i]));
  });

  it("test_lane_neverRunsTwoInferencesAtOnce", async () => {
    const { backend, state } = fakeBackend(3);
    const lane = new InferenceBatcher(backend, { maxBatch: 1, maxWaitMs: 0 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => lane.submit(vec([i, i + 1]), null)));
    expect(state.maxInFlight).toBe(1);
    expect(lane.maxInFlight).toBe(1);
    expect(state.runs).toEqual(Array(20).fill(1));
    results.forEach((r, i) => {
      expect([...(r.output.data as Float32Array)]).toEqual([2 * i, 2 * i + 2]);
      expect(r.batch).toBe(1);
    });
  });

  it("test_lane_batches_andSplitsPerRequest", async () => {
    const { backend, state } = fakeBackend(5);
    const lane = new InferenceBatcher(backend, { maxBatch: 4, maxWaitMs: 0 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => lane.submit(vec([i, -i, 0.5]), null)));
    expect(state.maxInFlight).toBe(1);
    expect(Math.max(...state.runs)).toBe(4);
    expect(state.runs.reduce((a, b) => a + b, 0)).toBe(10);
    results.forEach((r, i) => {
      expect(r.output.shape).toEqual([1, 3]);
      expect([...(r.output.data as Float32Array)]).toEqual([2 * i, -2 * i, 1]);
    });
  });

  it("test_lane_onlyBatchesSameTrailingShape", async () => {
    const { backend, state } = fakeBackend(2);
    const lane = new InferenceBatcher(backend, { maxBatch: 8, maxWaitMs: 0 });
    const a = [vec([1, 2]), vec([3, 4, 5]), vec([6, 7]), vec([8, 9, 10])];
    const results = await Promise.all(a.map((t) => lane.submit(t, null)));
    expect(state.runs.sort()).toEqual([2, 2]);
    expect([...(results[1]!.output.data as Float32Array)]).toEqual([6, 8, 10]);
    expect([...(results[2]!.output.data as Float32Array)]).toEqual([12, 14]);
  });

  it("test_lane_modelWithoutBatchDim_runsOneByOne", async () => {
    const { backend, state } = fakeBackend(2, false);
    const lane = new InferenceBatcher(backend, { maxBatch: 8, maxWaitMs: 0 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => lane.submit(vec([i]), null)));
    expect(state.runs).toEqual(Array(6).fill(1));
    expect(state.maxInFlight).toBe(1);
  });

  it("test_lane_notBatchableRequest_runsAlone", async () => {
    const { backend, state } = fakeBackend(2);
    const lane = new InferenceBatcher(backend, { maxBatch: 8, maxWaitMs: 0 });
    await Promise.all([lane.submit(vec([1]), null, { batchable: false }), lane.submit(vec([2]), null), lane.submit(vec([3]), null)]);
    expect(state.runs).toEqual([1, 2]);
  });

  it("test_lane_maxWaitHonoured", async () => {
    const { backend, state } = fakeBackend(1);
    const lane = new InferenceBatcher(backend, { maxBatch: 4, maxWaitMs: 60 });
    // A lone request waits up to maxWaitMs for company, then runs alone.
    let t = performance.now();
    const lone = await lane.submit(vec([1]), null);
    const waited = performance.now() - t;
    expect(lone.batch).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(waited).toBeLessThan(1000);
    // Requests arriving within the wait join the batch.
    t = performance.now();
    const first = lane.submit(vec([1]), null);
    await sleep(15);
    const second = lane.submit(vec([2]), null);
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.batch).toBe(2);
    expect(r2.batch).toBe(2);
    // A full batch does not wait.
    t = performance.now();
    await Promise.all(Array.from({ length: 4 }, (_, i) => lane.submit(vec([i]), null)));
    expect(performance.now() - t).toBeLessThan(45);
    expect(state.runs).toEqual([1, 2, 4]);
  });

  it("test_lane_failedBatch_isRetriedPerRequest", async () => {
    const runs: number[] = [];
    const lane = new InferenceBatcher<null>(
      {
        async run(input) {
          runs.push(input.shape[0]!);
          const d = input.data as Float32Array;
          if (d.some((x) => x < 0)) throw new Error("negative input");
          return input;
        },
        batchable: () => true,
      },
      { maxBatch: 8, maxWaitMs: 0 },
    );
    const results = await Promise.allSettled([lane.submit(vec([1]), null), lane.submit(vec([-1]), null), lane.submit(vec([3]), null)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(runs).toEqual([3, 1, 1, 1]);
  });

  it("test_lane_abortedWhileQueued_rejectsWithoutRunning", async () => {
    const { backend, state } = fakeBackend(20);
    const lane = new InferenceBatcher(backend, { maxBatch: 1, maxWaitMs: 0 });
    const controller = new AbortController();
    const first = lane.submit(vec([1]), null);
    const second = lane.submit(vec([2]), null, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(second).rejects.toThrow("stop");
    await first;
    expect(state.runs).toEqual([1]);
  });

  it("test_concatAndSplit_roundTrip", () => {
    const a: Tensor = { dtype: "float32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) };
    const b: Tensor = { dtype: "float32", shape: [1, 2], data: Float32Array.of(5, 6) };
    const c = concatBatch([a, b]);
    expect(c.shape).toEqual([3, 2]);
    const [x, y] = splitBatch(c, [2, 1]);
    expect([...(x!.data as Float32Array)]).toEqual([1, 2, 3, 4]);
    expect(y!.shape).toEqual([1, 2]);
    expect(() => splitBatch(c, [1, 1])).toThrow(RangeError);
  });

  it("test_dynamicBatchDim_fromModelMetadata", async () => {
    expect(dynamicBatchDim([{ name: "x", isTensor: true, type: "float32", shape: ["N", 3] }])).toBe(true);
    expect(dynamicBatchDim([{ name: "x", isTensor: true, type: "float32", shape: [-1, 3] }])).toBe(true);
    expect(dynamicBatchDim([{ name: "x", isTensor: true, type: "float32", shape: [1, 3] }])).toBe(false);
    expect(dynamicBatchDim(undefined)).toBe(false);
    const session = await ort.InferenceSession.create(CLS_PATH);
    expect(dynamicBatchDim(session.inputMetadata) && dynamicBatchDim(session.outputMetadata)).toBe(true);
    await session.release();
  });

  it("test_config_batchPolicy_perModelThenDefault", () => {
    const base = { signerKey: SIGNER_KEY, allowedOracles: [{ chainId: "1", oracle: ORACLE }] };
    const c = loadWorkerConfig({ ...base, batching: { default: { maxBatch: 4 }, [CLS_HASH.toUpperCase().replace("0X", "0x")]: { maxBatch: 8, maxWaitMs: 2 } } }, {});
    expect(batchPolicyFor(c, CLS_HASH)).toEqual({ maxBatch: 8, maxWaitMs: 2 });
    expect(batchPolicyFor(c, randomHash())).toEqual({ maxBatch: 4, maxWaitMs: 0 });
    expect(batchPolicyFor(loadWorkerConfig(base, {}), CLS_HASH)).toEqual({ maxBatch: 1, maxWaitMs: 0 });
    const env = loadWorkerConfig(base, { WORKER_BATCHING: '{"default":{"maxBatch":16,"maxWaitMs":1}}' });
    expect(batchPolicyFor(env, CLS_HASH)).toEqual({ maxBatch: 16, maxWaitMs: 1 });
  });
});

describe("Worker with dynamic batching (real classifier)", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let queue: InProcessQueue;
  let worker: Worker | undefined;
  beforeEach(async () => {
    tmp = await tempDir();
    queue = new InProcessQueue();
  });
  afterEach(async () => {
    await worker?.close();
    await queue.close();
    worker = undefined;
    await tmp.cleanup();
  });

  async function serve(config: Record<string, unknown>, inputs: Tensor[], tier = Tier.OPTIMISTIC): Promise<BatchItem[]> {
    worker = new Worker({
      queue,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      logger: silentLogger(),
      config: { signerKey: SIGNER_KEY, allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }], modelCacheDir: `${tmp.dir}/models`, modelSchemes: ["npm"], ...config },
    });
    const replies: BatchItem[] = [];
    await queue.consume<Json>(QUEUES.results, async (d) => {
      // One signature per batch of results (docs/V2.md §3): checked here, over every item.
      const batch = ResultBatchMessageSchema.parse(d.body);
      const entries = batch.items.map((i) => ({ requestId: i.requestId, outputHash: i.outputHash }));
      expect(recoverResultBatchSigner(oracleDomain(CHAIN_ID, ORACLE), { payee: batch.payee, signature: batch.signature, entries })).toBe(new Wallet(SIGNER_KEY).address);
      replies.push(...batch.items);
    }, { prefetch: 100 });
    await worker.runner.warm(CLS_HASH);
    await worker.start();
    const jobs: Job[] = inputs.map((t, i) => {
      const bytes = encodeTensor(t);
      return {
        kind: "job",
        chainId: CHAIN_ID.toString(),
        oracle: ORACLE,
        requestId: `0x${(i + 1).toString(16).padStart(64, "0")}`,
        modelHash: CLS_HASH,
        inputHash: hashEncoded(bytes),
        input: `0x${bytes.toString("hex")}`,
        inputURI: "",
        tier,
        deadline: Math.floor(Date.now() / 1000) + 3600,
        observedAt: Date.now(),
      };
    });
    for (const j of jobs) await queue.publish(QUEUES.jobs, j as unknown as Json);
    await waitFor(() => (replies.length === jobs.length ? true : undefined), 20_000, "all results");
    return replies;
  }

  it("test_batchedResults_matchPerRequestRuns_andAreSignedPerRequest", async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => textLineTensor(`Batch line ${i}`, { rotated: i % 3 === 0 }));
    const replies = await serve({ prefetch: 16, batching: { default: { maxBatch: 8, maxWaitMs: 20 } } }, inputs);
    const lane = worker!.runner.lane(CLS_HASH)!;
    // Depth 2 (the session has its own thread): one run in the thread, the next queued there.
    expect(lane.maxInFlight).toBeLessThanOrEqual(2);
    expect(Math.max(...lane.batches)).toBeGreaterThan(1);

    const session = await ort.InferenceSession.create(CLS_PATH, { graphOptimizationLevel: "all" });
    for (const r of replies) {
      const i = Number(BigInt(r.requestId)) - 1;
      const output = decodeTensor(bytesOf(r.output));
      expect(output.shape).toEqual([1, 2]);
      expect(hashEncoded(bytesOf(r.output))).toBe(r.outputHash);
      expect(r.inputHash).toBe(hashEncoded(encodeTensor(inputs[i]!)));
      const alone = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", inputs[i]!.data as Float32Array, inputs[i]!.shape) });
      const expected = alone[session.outputNames[0]!]!.data as Float32Array;
      (output.data as Float32Array).forEach((x, k) => expect(Math.abs(x - expected[k]!)).toBeLessThan(1e-4));
    }
    await session.release();
    expect(replies.some((r) => (r.timings.batch ?? 1) > 1)).toBe(true);
  });

  it("test_zkTierJobs_areNeverBatched", async () => {
    // ZK-tier jobs run alone; and a worker without proving artifacts for the model (this one: the
    // classifier has no circuit) leaves them unsigned for other workers (test/zk/worker-prover.test.ts
    // covers proving), so none of them ever reaches a batch.
    const replies = await serve({ prefetch: 8, batching: { default: { maxBatch: 8, maxWaitMs: 20 } } }, [], Tier.ZK);
    for (let i = 0; i < 6; i++) {
      const bytes = encodeTensor(textLineTensor(`Zk line ${i}`));
      await queue.publish(QUEUES.jobs, {
        kind: "job", chainId: CHAIN_ID.toString(), oracle: ORACLE, requestId: `0x${(i + 1).toString(16).padStart(64, "0")}`,
        modelHash: CLS_HASH, inputHash: hashEncoded(bytes), input: `0x${bytes.toString("hex")}`, inputURI: "", tier: Tier.ZK,
        deadline: Math.floor(Date.now() / 1000) + 3600, observedAt: Date.now(),
      });
    }
    const dead = await waitFor(async () => {
      const d = await queue.deadLetters(QUEUES.jobs);
      return d.length === 6 ? d : undefined;
    }, 20_000, "the dead letters");
    expect(replies).toHaveLength(0);
    for (const d of dead) expect(d.reason).toMatch(/no ZK artifacts/);
    // Never run at all, so never batched.
    expect(worker!.runner.lane(CLS_HASH)?.batches ?? []).toEqual([]);
  });

  it("test_batchingOff_byDefault_oneRunAtATime", async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => textLineTensor(`Plain line ${i}`));
    const replies = await serve({ prefetch: 8 }, inputs);
    const lane = worker!.runner.lane(CLS_HASH)!;
    expect(lane.batches.every((b) => b === 1)).toBe(true);
    expect(lane.maxInFlight).toBeLessThanOrEqual(2); // depth 2: one running in the inference thread, one queued
    expect(replies).toHaveLength(8);
  });

  it("test_invalidHexInput_isDeadLettered", async () => {
    worker = new Worker({
      queue,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      logger: silentLogger(),
      config: { signerKey: SIGNER_KEY, allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }], modelCacheDir: `${tmp.dir}/models`, modelSchemes: ["npm"] },
    });
    await worker.start();
    const base = {
      kind: "job",
      chainId: CHAIN_ID.toString(),
      oracle: ORACLE,
      modelHash: CLS_HASH,
      inputHash: randomHash(),
      inputURI: "",
      tier: 1,
      deadline: Math.floor(Date.now() / 1000) + 3600,
      observedAt: Date.now(),
    };
    await queue.publish(QUEUES.jobs, { ...base, requestId: randomHash(), input: "0x12zz" });
    await queue.publish(QUEUES.jobs, { ...base, requestId: randomHash(), input: "0x123" });
    const dead = await waitFor(async () => {
      const d = await queue.deadLetters(QUEUES.jobs);
      return d.length === 2 ? d : undefined;
    });
    for (const d of dead) expect(d.reason).toMatch(/input: expected 0x-prefixed hex bytes/);
  });
});
