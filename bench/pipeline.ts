/**
 * One worker pipeline of bench/throughput.ts: a Worker on an in-process queue serving one model, jobs of
 * one tier published to it, its signed result batches consumed; per-result stage timings and job latency
 * (published -> result received) recorded while `record` is on.
 */
import { join } from "node:path";
import { Wallet } from "ethers";
import { type Job, QUEUES, type Tensor, Tier, createLogger } from "../protocol/index.js";
import { InProcessQueue } from "../queue/index.js";
import { StaticCatalog, Worker, type WorkerConfigInput } from "../worker/index.js";

export const ORACLE = "0x00000000000000000000000000000000000000aa";
export const CHAIN_ID = 31337n;

export interface PipelineModel {
  uri: string;
  modelHash: string;
  input: { dtype: Tensor["dtype"]; shape: number[] };
  output: { dtype: Tensor["dtype"]; shape: number[] };
}

export interface PipelineOptions {
  model: PipelineModel;
  tier: Tier.NONE | Tier.OPTIMISTIC;
  /** Inference in a thread or model process beside the JS thread (the default), or on it. */
  inferenceThread: boolean;
  /** Sessions in the worker's process (`modelProcess: false`) instead of a model process. */
  inProcess: boolean;
  batch: number;
  threads: number;
  prefetch: number;
  /** Folder for this pipeline's model and input caches (fresh per case). */
  dir: string;
  /** A blob store every upload goes to (the bench counts its bytes: the happy path uploads nothing). */
  blobStoreUrl: string;
  /** Job i's input (bytes, or hex for --json-jobs) and its hash. */
  inputOf: (i: number) => Buffer | string;
  hashOf: (i: number) => string;
  /** A fresh number per run (request ids never repeat across the case's pipelines). */
  nextRun: () => number;
}

export interface Pipeline {
  tier: Tier;
  /** Publishes `count` jobs and resolves with jobs per second once every result is in. */
  run(count: number): Promise<number>;
  /** Stage timings (ms) and job latencies of the results received while recording. */
  stages: Map<string, number[]>;
  latencies: number[];
  record: boolean;
  close(): Promise<void>;
}

export async function makePipeline(o: PipelineOptions): Promise<Pipeline> {
  const queue = new InProcessQueue();
  const name = `${o.tier === Tier.NONE ? "none" : "optimistic"}-${o.inferenceThread ? "thread" : "js"}`;
  const config: WorkerConfigInput = {
    signerKey: Wallet.createRandom().privateKey,
    allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
    prefetch: o.prefetch,
    maxInputBytes: 4 << 20,
    maxInlineOutputBytes: 4 << 20, // outputs travel inline
    intraOpNumThreads: o.threads,
    inferenceThread: o.inferenceThread,
    // --in-process: sessions in the worker's process (no model process: trusted models only), to
    // separate the cost of the model-process sandbox (worker/model-process.ts) from the rest.
    ...(o.inProcess ? { modelProcess: false } : {}),
    modelCacheDir: join(o.dir, `models-${name}`),
    // A fresh input cache per run (OPTIMISTIC inputs are kept to answer disputes): the default folder
    // (.data/worker/inputs) kept every earlier run's inputs, whose request ids these jobs reuse, so
    // each put first unlinked a stale file (~1.3 ms a job in a profile; an artifact, not the worker's cost).
    inputCacheDir: join(o.dir, `inputs-${name}`),
    modelSchemes: ["http", "https", "file", "npm"], // opt in: the benchmark's models are local files
    batching: o.batch > 1 ? { default: { maxBatch: o.batch, maxWaitMs: 2 } } : {},
    blobStoreUrl: o.blobStoreUrl,
  };
  const worker = new Worker({
    queue,
    logger: createLogger("bench", { level: "error" }),
    catalog: new StaticCatalog([{ modelHash: o.model.modelHash, uris: [o.model.uri], input: o.model.input, output: o.model.output }]),
    config,
  });
  await worker.start();
  const p: Pipeline = {
    tier: o.tier,
    stages: new Map(),
    latencies: [],
    record: false,
    run: async () => 0,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
  const sentAt = new Map<string, number>();
  let received = 0;
  let notify: (() => void) | undefined;
  await queue.consume(
    QUEUES.results,
    async (d) => {
      const body = d.body as { kind: string; items?: { requestId: string; timings?: Record<string, number> }[]; message?: string };
      if (body.kind !== "batch") throw new Error(`bench job rejected: ${body.message}`);
      // One signed batch per flush of the worker's result batcher (docs/V2.md §3).
      for (const item of body.items ?? []) {
        if (p.record) {
          for (const [k, v] of Object.entries(item.timings ?? {})) {
            let list = p.stages.get(k);
            if (list === undefined) p.stages.set(k, (list = []));
            list.push(v);
          }
          const sent = sentAt.get(item.requestId);
          if (sent !== undefined) p.latencies.push(performance.now() - sent);
        }
        sentAt.delete(item.requestId);
        received++;
      }
      notify?.();
    },
    { prefetch: 1000 },
  );
  const job = (i: number, run: number): Job => ({
    kind: "job",
    chainId: CHAIN_ID.toString(),
    oracle: ORACLE,
    requestId: `0x${(run * 1_000_000 + i + 1).toString(16).padStart(64, "0")}`,
    modelHash: o.model.modelHash,
    inputHash: o.hashOf(i),
    input: o.inputOf(i),
    inputURI: "",
    tier: o.tier,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    observedAt: Date.now(),
  });
  p.run = async (count: number): Promise<number> => {
    const run = o.nextRun();
    const messages = Array.from({ length: count }, (_, i) => job(i, run)); // built before the clock starts
    const target = received + count;
    const done = new Promise<void>((resolve) => {
      notify = () => received >= target && resolve();
    });
    const t0 = performance.now();
    for (const msg of messages) {
      sentAt.set(msg.requestId, performance.now());
      await queue.publish(QUEUES.jobs, msg);
    }
    await done;
    return (count / (performance.now() - t0)) * 1000;
  };
  return p;
}
