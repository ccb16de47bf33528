/**
 * Worker pipeline throughput against raw onnxruntime-node, per model, batch size and trace mode,
 * in one run; then request -> settlement latency on the local chain.
 *
 *   raw:      InferenceSession.run back to back on the JS thread, `batch` inputs concatenated per run
 *   pipeline: jobs published to the in-process queue (binary: the input's bytes inline, passed by
 *             reference, protocol/envelope.ts; --json-jobs: JSON with hex input, as before issue 15)
 *             -> validate [-> hex decode] -> input hash check -> decode -> spec check -> inference lane (own thread,
 *             dynamic batching up to `batch`) [-> trace run, hash, upload] -> encode -> output hash
 *             -> EIP-712 sign -> result message published (model verified, session warm)
 *
 * Fairness: raw and pipeline use the SAME session settings (graph optimization "all", CPU,
 * intra-op threads = --threads, default 1: on this 2-core host ORT's own choice, 2 threads,
 * was slower than 1 for cls and det, and 1 leaves a core for the worker's own work; the raw figure
 * at ORT's default threads is recorded too as `rawOrtDefaultPerSecond`). For each case raw and
 * pipeline runs are interleaved (machine noise hits both alike); medians over repeats; the ratio
 * is pipeline / raw at the SAME batch size. Traced jobs (checkpoint, full) batch like plain ones
 * (one trace-session run per batch, each job's trace sliced out of it, worker/trace.ts), their
 * traces uploaded to a local HTTP blob sink (bytes counted).
 * Models: the PP-OCR classifier, detector and recognizer (bench/models.ts).
 *
 * Latency: a local stack (stack/local-stack.ts: Hardhat EDR chain, relayer, one worker) serving
 * the cls model, the chain mining a block every --block-ms (default 1000, a 1 s block chain; 0: a
 * block per transaction) once the warm-up request is served, the relayer polling the chain every
 * --relayer-poll-ms (default 50; the relayer's own default is 500); requests sent one every --gap ms; p50/p99 of request mined -> settled (NONE tier:
 * the result's transaction settles and calls back) and request mined -> result on-chain
 * (OPTIMISTIC tier, per trace mode; settlement follows after the challenge window).
 *
 * Writes bench/results/throughput.json and prints tables.
 *
 * Usage: tsx bench/throughput.ts [--jobs 100] [--repeats 3] [--batches 1,8] [--models cls,det,rec]
 *          [--traces none,checkpoint,full] [--threads 1] [--latency 30] [--gap 40] [--block-ms 1000]
 *          [--relayer-poll-ms 50] [--json-jobs] [--in-process]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import * as ort from "onnxruntime-node";
import { type Job, QUEUES, type Tensor, Tier, createLogger, encodeTensor, hashEncoded, resolveNpmUri } from "../protocol/index.js";
import { InProcessQueue } from "../queue/index.js";
import { concatBatch, StaticCatalog, Worker, type WorkerConfigInput, sha256File } from "../worker/index.js";
import { type LatencyResult, type TraceMode, latencyCase } from "./latency.js";
import { BENCH_MODELS, type BenchModel } from "./models.js";
import { childrenCpuMs, median, percentile, r1, r3 } from "./stats.js";

const ORACLE = "0x00000000000000000000000000000000000000aa";
const CHAIN_ID = 31337n;

/** --json-jobs: jobs as JSON with hex input (the format before the binary envelope), for comparison. */
let jsonJobs = false;
/** --in-process: modelProcess false (see makePipeline). */
let inProcess = false;

/** A blob store that takes PUT /blobs/:hash over HTTP and only counts the bytes. */
async function blobSink(): Promise<{ url: string; bytes: () => number; blobs: () => number; close: () => void }> {
  let bytes = 0;
  let blobs = 0;
  const server = createServer((req, res) => {
    req.on("data", (c: Buffer) => (bytes += c.byteLength));
    req.on("end", () => {
      blobs++;
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bytes: () => bytes, blobs: () => blobs, close: () => server.close() };
}

interface CaseResult {
  model: string;
  input: string;
  batch: number;
  trace: TraceMode;
  /** Trace bytes published per job (tensors + manifest). */
  traceBytesPerJob: number;
  /** Raw at ORT's default intra-op threads (reference only; the ratio uses the same settings as the pipeline). */
  rawOrtDefaultPerSecond: number;
  jobsPerRun: number;
  prefetch: number;
  rawPerSecond: { median: number; runs: number[] };
  pipelinePerSecond: { median: number; runs: number[] };
  ratio: number;
  /** The same pipeline with inference on the JS thread (inferenceThread: false), interleaved in the same run (trace none only). */
  jsThreadPipelinePerSecond?: { median: number; runs: number[] };
  jsThreadRatio?: number;
  /** Median ms per job of each worker stage, as the worker reports them in its results. */
  stageMedianMs: Record<string, number>;
  /**
   * CPU time per job (ms, every thread of this process and of its model processes: user + system), median over repeats. On a
   * saturated machine throughput follows CPU per job, so this is the load-independent figure:
   * pipeline - raw = what the worker adds per job.
   */
  cpuMsPerJob: { raw: number; pipeline: number; jsThreadPipeline?: number };
  /** Job published -> result received, per job (ms) under the case's load. */
  jobLatencyMs: { p50: number; p99: number };
  /** Requests per session.run in the pipeline (mean). */
  meanPipelineBatch: number;
}

async function benchCase(m: BenchModel, batch: number, trace: TraceMode, jobs: number, repeats: number, threads: number): Promise<CaseResult> {
  const modelPath = resolveNpmUri(m.uri);
  const modelHash = await sha256File(modelPath);
  const inputs: Tensor[] = m.inputs(16);
  const encoded = inputs.map((t) => encodeTensor(t));
  const hashes = encoded.map((e) => hashEncoded(e));
  const hexes = encoded.map((e) => `0x${e.toString("hex")}`);
  const inputOf = (i: number) => (jsonJobs ? hexes[i % hexes.length]! : encoded[i % encoded.length]!);

  // Raw onnxruntime, batch `batch`, with the pipeline's session settings.
  const sessionOptions = { graphOptimizationLevel: "all" as const, executionProviders: ["cpu"], ...(threads > 0 ? { intraOpNumThreads: threads } : {}) };
  const session = await ort.InferenceSession.create(modelPath, sessionOptions);
  const inputName = session.inputNames[0]!;
  const batches = Array.from({ length: inputs.length }, (_, i) => concatBatch(Array.from({ length: batch }, (_, j) => inputs[(i + j) % inputs.length]!)));
  const rawWith = (s: ort.InferenceSession) => async (): Promise<number> => {
    const runs = Math.ceil(jobs / batch);
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      const t = batches[i % batches.length]!;
      await s.run({ [inputName]: new ort.Tensor(t.dtype, t.data as Float32Array, t.shape) });
    }
    return ((runs * batch) / (performance.now() - t0)) * 1000;
  };
  const runRaw = rawWith(session);

  const dir = mkdtempSync(join(tmpdir(), "bench-throughput-"));
  const pipelines: Array<{ run: () => Promise<number>; close: () => Promise<void> }> = [];
  const stages = new Map<string, number[]>();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const sink = trace === "none" ? undefined : await blobSink();
  let runNo = 0;
  const makePipeline = async (inferenceThread: boolean, record: boolean) => {
  const queue = new InProcessQueue();
  const extra: Partial<WorkerConfigInput> = sink === undefined ? {} : { blobStoreUrl: sink.url };
  const worker = new Worker({
    queue,
    logger: createLogger("bench", { level: "error" }),
    catalog: new StaticCatalog([{ modelHash, uris: [m.uri], input: m.inputSpec, output: m.outputSpec }]),
    config: {
      signerKey: Wallet.createRandom().privateKey,
      allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
      prefetch,
      maxInputBytes: 4 << 20,
      maxInlineOutputBytes: 4 << 20, // outputs travel inline
      intraOpNumThreads: threads,
      inferenceThread,
      // --in-process: sessions in the worker's process (no model process: trusted models only), to
      // separate the cost of the model-process sandbox (worker/model-process.ts) from the rest.
      ...(inProcess ? { modelProcess: false } : {}),
      modelCacheDir: join(dir, inferenceThread ? "models-thread" : "models-js"),
      // A fresh input cache per run (OPTIMISTIC inputs are kept to answer disputes): the default folder
      // (.data/worker/inputs) kept every earlier run's inputs, whose request ids these jobs reuse, so
      // each put first unlinked a stale file (~1.3 ms a job in a profile; an artifact, not the worker's cost).
      inputCacheDir: join(dir, inferenceThread ? "inputs-thread" : "inputs-js"),
      modelSchemes: ["http", "https", "file", "npm"], // opt in: the benchmark's models are local files
      batching: batch > 1 ? { default: { maxBatch: batch, maxWaitMs: 2 } } : {},
      ...extra,
    },
  });
  await worker.start();
  let received = 0;
  let notify: (() => void) | undefined;
  await queue.consume(
    QUEUES.results,
    async (d) => {
      const body = d.body as { kind: string; items?: { requestId: string; timings?: Record<string, number> }[]; message?: string };
      if (body.kind !== "batch") throw new Error(`bench job rejected: ${body.message}`);
      // One signed batch per flush of the worker's result batcher (docs/V2.md §3).
      for (const item of body.items ?? []) {
        if (record) for (const [k, v] of Object.entries(item.timings ?? {})) {
          let list = stages.get(k);
          if (list === undefined) stages.set(k, (list = []));
          list.push(v);
        }
        const sent = sentAt.get(item.requestId);
        if (sent !== undefined && record) latencies.push(performance.now() - sent);
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
    modelHash,
    inputHash: hashes[i % hashes.length]!,
    input: inputOf(i),
    inputURI: "",
    tier: Tier.OPTIMISTIC,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    observedAt: Date.now(),
  });
  const runPipeline = async (count = jobs): Promise<number> => {
    const run = ++runNo;
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
  pipelines.push({
    run: runPipeline,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  });
  return runPipeline;
  };
  const prefetch = Math.max(4, 2 * batch);
  const runPipeline: (count?: number) => Promise<number> = await makePipeline(true, true);
  const runJsThread = trace === "none" && !process.env.NOJS ? await makePipeline(false, false) : undefined;

  // Warm both (model fetch + hash check, session creation, JIT).
  await runRaw();
  const warmJobs = Math.min(jobs, Math.max(2, 2 * batch));
  await runPipeline(warmJobs);
  await runJsThread?.(warmJobs);
  stages.clear();
  latencies.length = 0;
  const bytesBefore = sink?.bytes() ?? 0;
  const raw: number[] = [];
  const pipeline: number[] = [];
  const jsThread: number[] = [];
  const cpu = { raw: [] as number[], pipeline: [] as number[], js: [] as number[] };
  const cpuOf = async (list: number[], perJob: number, fn: () => Promise<number>): Promise<number> => {
    const c0 = process.cpuUsage();
    const k0 = childrenCpuMs();
    const rate = await fn();
    const c = process.cpuUsage(c0);
    list.push(((c.user + c.system) / 1000 + childrenCpuMs() - k0) / perJob);
    return rate;
  };
  for (let r = 0; r < repeats; r++) {
    raw.push(await cpuOf(cpu.raw, Math.ceil(jobs / batch) * batch, runRaw));
    pipeline.push(await cpuOf(cpu.pipeline, jobs, () => runPipeline()));
    if (runJsThread !== undefined) jsThread.push(await cpuOf(cpu.js, jobs, () => runJsThread()));
  }
  const traceBytes = (sink?.bytes() ?? 0) - bytesBefore;
  for (const p of pipelines) await p.close();
  await session.release();
  sink?.close();
  rmSync(dir, { recursive: true, force: true });
  // Reference: raw at ORT's default intra-op threads (not used for the ratio).
  let rawDefault = NaN;
  if (trace === "none") {
    const d = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all", executionProviders: ["cpu"] });
    const runs: number[] = [];
    await rawWith(d)();
    for (let r = 0; r < repeats; r++) runs.push(await rawWith(d)());
    rawDefault = median(runs);
    await d.release();
  }

  const batchSizes = stages.get("batch") ?? [1];
  return {
    model: m.name,
    input: `${m.inputSpec.dtype}[${m.inputs(1)[0]!.shape.join(",")}]`,
    batch,
    trace,
    traceBytesPerJob: Math.round(traceBytes / (jobs * repeats)),
    rawOrtDefaultPerSecond: Number.isNaN(rawDefault) ? NaN : r1(rawDefault),
    jobsPerRun: jobs,
    prefetch,
    rawPerSecond: { median: r1(median(raw)), runs: raw.map(r1) },
    pipelinePerSecond: { median: r1(median(pipeline)), runs: pipeline.map(r1) },
    ratio: r3(median(pipeline) / median(raw)),
    ...(jsThread.length === 0 ? {} : { jsThreadPipelinePerSecond: { median: r1(median(jsThread)), runs: jsThread.map(r1) }, jsThreadRatio: r3(median(jsThread) / median(raw)) }),
    stageMedianMs: Object.fromEntries([...stages].map(([k, v]) => [k, r3(median(v))])),
    jobLatencyMs: { p50: r1(median(latencies)), p99: r1(percentile(latencies, 99)) },
    cpuMsPerJob: { raw: r3(median(cpu.raw)), pipeline: r3(median(cpu.pipeline)), ...(cpu.js.length === 0 ? {} : { jsThreadPipeline: r3(median(cpu.js)) }) },
    meanPipelineBatch: r1(batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: {
      jobs: { type: "string", default: "100" },
      repeats: { type: "string", default: "3" },
      batches: { type: "string", default: "1,8" },
      models: { type: "string", default: BENCH_MODELS.map((m) => m.name).join(",") },
      traces: { type: "string", default: "none" },
      threads: { type: "string", default: "1" },
      latency: { type: "string", default: "30" },
      gap: { type: "string", default: "40" },
      "block-ms": { type: "string", default: "1000" },
      "relayer-poll-ms": { type: "string", default: "50" },
      "json-jobs": { type: "boolean", default: false },
      "in-process": { type: "boolean", default: false },
    },
  });
  jsonJobs = values["json-jobs"];
  inProcess = values["in-process"];
  const jobs = Number(values.jobs);
  const repeats = Number(values.repeats);
  const threads = Number(values.threads);
  const batchSizes = values.batches.split(",").map(Number);
  const traces = values.traces.split(",") as TraceMode[];
  if (traces.some((t) => t !== "none")) throw new Error("--traces: only none (the worker builds no trace since the result format v2)");
  const wanted = values.models.split(",");
  const results: CaseResult[] = [];
  const say = (r: CaseResult) =>
    console.log(
      `${r.model.padEnd(4)} ${r.input.padEnd(22)} batch ${String(r.batch).padStart(2)} trace ${r.trace.padEnd(10)}: raw ${String(r.rawPerSecond.median).padStart(7)}/s  pipeline ${String(r.pipelinePerSecond.median).padStart(7)}/s  ratio ${r.ratio.toFixed(2)}${r.jsThreadRatio === undefined ? "" : ` (JS-thread inference ${r.jsThreadRatio.toFixed(2)})`}  raw@ORT-default-threads ${r.rawOrtDefaultPerSecond}/s  cpu/job raw ${r.cpuMsPerJob.raw} pipeline ${r.cpuMsPerJob.pipeline} ms  p50 ${r.jobLatencyMs.p50} ms  trace ${r.traceBytesPerJob} B/job  stages ${JSON.stringify(r.stageMedianMs)}`,
    );
  for (const m of BENCH_MODELS.filter((x) => wanted.includes(x.name))) {
    for (const trace of traces) {
      for (const b of batchSizes) {
        const scale = 1;
        const n = Math.max(b, Math.round((jobs * m.jobsScale * scale) / b) * b);
        const r = await benchCase(m, b, trace, n, repeats, threads);
        results.push(r);
        say(r);
      }
    }
  }
  const latency: LatencyResult[] = [];
  const latencyRequests = Number(values.latency);
  if (latencyRequests > 0) {
    const gap = Number(values.gap);
    const blockMs = Number(values["block-ms"]);
    if (!Number.isInteger(blockMs) || blockMs < 0) throw new Error("--block-ms: a whole number of milliseconds (0: a block per transaction)");
    const relayerPollMs = Number(values["relayer-poll-ms"]);
    if (!Number.isInteger(relayerPollMs) || relayerPollMs < 10) throw new Error("--relayer-poll-ms: a whole number of milliseconds, at least 10");
    latency.push(await latencyCase(Tier.NONE, "none", latencyRequests, gap, threads, blockMs, relayerPollMs));
    for (const trace of traces) latency.push(await latencyCase(Tier.OPTIMISTIC, trace, latencyRequests, gap, threads, blockMs, relayerPollMs));
    for (const l of latency) console.log(`latency ${l.tier.padEnd(10)} trace ${l.trace.padEnd(10)} ${blockMs > 0 ? `${blockMs} ms blocks` : "automine"}, relayer poll ${relayerPollMs} ms: request -> result on-chain p50 ${l.requestToResultOnChainMs.p50} ms, p99 ${l.requestToResultOnChainMs.p99} ms (worker ${l.workerTotalMs} ms)`);
  }
  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? "?"} CPU; load average at start ${loadStart.map((x) => x.toFixed(1)).join(" ")}`,
    command: `tsx bench/throughput.ts --jobs ${jobs} --repeats ${repeats} --batches ${values.batches} --models ${values.models} --traces ${values.traces} --threads ${threads} --latency ${values.latency} --gap ${values.gap} --block-ms ${values["block-ms"]} --relayer-poll-ms ${values["relayer-poll-ms"]}${jsonJobs ? " --json-jobs" : ""}${inProcess ? " --in-process" : ""}`,
    settings: { graphOptimizationLevel: "all", executionProvider: "cpu", intraOpNumThreads: threads, inferenceThread: true },
    repeats,
    results,
    latency,
  };
  console.log(
    "\n| model | input (per job) | batch | trace | raw /s | pipeline /s | ratio | ratio, inference on the JS thread | CPU ms/job raw / pipeline | job latency p50 / p99 ms | trace bytes/job |\n|---|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const r of results)
    console.log(
      `| ${r.model} | ${r.input} | ${r.batch} | ${r.trace} | ${r.rawPerSecond.median} | ${r.pipelinePerSecond.median} | ${r.ratio.toFixed(2)} | ${r.jsThreadRatio?.toFixed(2) ?? "–"} | ${r.cpuMsPerJob.raw} / ${r.cpuMsPerJob.pipeline} | ${r.jobLatencyMs.p50} / ${r.jobLatencyMs.p99} | ${r.traceBytesPerJob} |`,
    );
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/throughput.json", JSON.stringify(out, null, 2) + "\n");
  console.log("written: bench/results/throughput.json");
}

const loadStart = loadavg();

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
