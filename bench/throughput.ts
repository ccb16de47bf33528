/**
 * Worker pipeline throughput against raw onnxruntime-node, per model, batch size and tier (OPTIMISTIC and NONE side by side),
 * in one run; then request -> settlement latency on the local chain.
 *
 *   raw:      InferenceSession.run back to back on the JS thread, `batch` inputs concatenated per run
 *   pipeline: jobs published to the in-process queue (binary: the input's bytes inline, passed by
 *             reference, protocol/envelope.ts; --json-jobs: JSON jobs with hex input, for comparison)
 *             -> validate [-> hex decode] -> input hash check -> decode -> spec check -> inference lane (own thread,
 *             dynamic batching up to `batch`) [-> trace run, hash, upload] -> encode -> output hash
 *             -> EIP-712 sign -> result message published (model verified, session warm)
 *
 * Fairness: raw and pipeline use the SAME session settings (graph optimization "all", CPU,
 * intra-op threads = --threads, default 1: on this 2-core host ORT's own choice, 2 threads,
 * was slower than 1 for cls and det, and 1 leaves a core for the worker's own work; the raw figure
 * at ORT's default threads is recorded too as `rawOrtDefaultPerSecond`). For each case raw and
 * pipeline runs are interleaved (machine noise hits both alike); medians over repeats; the ratio
 * is pipeline / raw at the SAME batch size.
 *
 * Tiers side by side (--tiers, default OPTIMISTIC,NONE): one pipeline per tier on the same inputs, their
 * runs interleaved with the raw runs (the tiers swap order every repeat), each with its throughput, CPU
 * per job and job latency p50 / p99, and OPTIMISTIC / NONE (the goal: >= 0.95 in throughput, p50 within
 * 10 %). The happy path builds no trace: every pipeline has a blob store (a local HTTP sink counting
 * bytes), and the bytes uploaded per job are reported (0: no trace, no output left the inline path).
 * The first tier's figures are the main table's; --skip-js-thread leaves out the JS-thread pipeline.
 * The bench measures onnxruntime's CPU provider and prints a line saying no GPU was measured.
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
 *          [--relayer-poll-ms 50] [--tiers OPTIMISTIC,NONE] [--skip-js-thread] [--json-jobs] [--in-process]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { type Tensor, Tier, encodeTensor, hashEncoded, resolveNpmUri } from "../protocol/index.js";
import { concatBatch, sha256File } from "../worker/index.js";
import { type LatencyResult, type TraceMode, latencyCase } from "./latency.js";
import { BENCH_MODELS, type BenchModel } from "./models.js";
import { makePipeline, type Pipeline } from "./pipeline.js";
import { childrenCpuMs, median, percentile, r1, r3 } from "./stats.js";

/** --json-jobs: jobs as JSON with hex input (the format before the binary envelope), for comparison. */
let jsonJobs = false;
/** --in-process: modelProcess false (see bench/pipeline.ts). */
let inProcess = false;
/** --skip-js-thread: no pipeline with inference on the JS thread (halves the run). */
let skipJsThread = false;

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

type TierName = "OPTIMISTIC" | "NONE";

/** One tier's pipeline in a case, interleaved with the raw runs and the other tier's. */
interface TierResult {
  perSecond: { median: number; runs: number[] };
  /** perSecond / raw at the same batch size. */
  ratio: number;
  /** CPU time per job (ms, every thread of this process and of its model processes), median over repeats. */
  cpuMsPerJob: number;
  /** Job published -> result received (ms) under the case's load. */
  jobLatencyMs: { p50: number; p99: number };
  /** Median ms per job of each worker stage, as the worker reports them in its results. */
  stageMedianMs: Record<string, number>;
  /** Requests per session.run (mean). */
  meanBatch: number;
}

interface CaseResult {
  model: string;
  input: string;
  batch: number;
  trace: TraceMode;
  /** Bytes uploaded to the blob store per job (traces, large outputs): 0 in the happy path (no trace is built). */
  traceBytesPerJob: number;
  /** Raw at ORT's default intra-op threads (reference only; the ratio uses the same settings as the pipeline). */
  rawOrtDefaultPerSecond: number;
  jobsPerRun: number;
  prefetch: number;
  rawPerSecond: { median: number; runs: number[] };
  /** The first tier of --tiers (OPTIMISTIC by default): the figures the README's table quotes. */
  pipelinePerSecond: { median: number; runs: number[] };
  ratio: number;
  /** The same pipeline with inference on the JS thread (inferenceThread: false), interleaved in the same run (first tier). */
  jsThreadPipelinePerSecond?: { median: number; runs: number[] };
  jsThreadRatio?: number;
  stageMedianMs: Record<string, number>;
  /**
   * CPU time per job (ms, every thread of this process and of its model processes: user + system), median over repeats. On a
   * saturated machine throughput follows CPU per job, so this is the load-independent figure:
   * pipeline - raw = what the worker adds per job.
   */
  cpuMsPerJob: { raw: number; pipeline: number; jsThreadPipeline?: number };
  jobLatencyMs: { p50: number; p99: number };
  meanPipelineBatch: number;
  /** Every tier of --tiers, side by side (same inputs, interleaved). */
  tiers: Partial<Record<TierName, TierResult>>;
  /** OPTIMISTIC against NONE when both ran: throughput ratio (goal >= 0.95) and p50 latency ratio (goal <= 1.10). */
  optimisticVsNone?: { throughput: number; latencyP50: number };
}

async function benchCase(m: BenchModel, batch: number, trace: TraceMode, jobs: number, repeats: number, threads: number, tiers: TierName[]): Promise<CaseResult> {
  const modelPath = resolveNpmUri(m.uri);
  const modelHash = await sha256File(modelPath);
  const inputs: Tensor[] = m.inputs(16);
  const encoded = inputs.map((t) => encodeTensor(t));
  const hashes = encoded.map((e) => hashEncoded(e));
  const hexes = encoded.map((e) => `0x${e.toString("hex")}`);

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
  const sink = await blobSink();
  let runNo = 0;
  const prefetch = Math.max(4, 2 * batch);
  const make = (tier: TierName, inferenceThread: boolean): Promise<Pipeline> =>
    makePipeline({
      model: { uri: m.uri, modelHash, input: m.inputSpec, output: m.outputSpec },
      tier: tier === "NONE" ? Tier.NONE : Tier.OPTIMISTIC,
      inferenceThread,
      inProcess,
      batch,
      threads,
      prefetch,
      dir,
      blobStoreUrl: sink.url,
      inputOf: (i) => (jsonJobs ? hexes[i % hexes.length]! : encoded[i % encoded.length]!),
      hashOf: (i) => hashes[i % hashes.length]!,
      nextRun: () => ++runNo,
    });
  const pipelines = new Map<TierName, Pipeline>();
  for (const tier of tiers) pipelines.set(tier, await make(tier, true));
  const jsThread = trace === "none" && !skipJsThread ? await make(tiers[0]!, false) : undefined;

  // Warm every pipeline (model fetch + hash check, session creation, JIT).
  await runRaw();
  const warmJobs = Math.min(jobs, Math.max(2, 2 * batch));
  for (const p of pipelines.values()) await p.run(warmJobs);
  await jsThread?.run(warmJobs);
  for (const p of [...pipelines.values(), ...(jsThread === undefined ? [] : [jsThread])]) p.record = true;
  const bytesBefore = sink.bytes();
  const raw: number[] = [];
  const rates = new Map<Pipeline, number[]>();
  const cpu = new Map<Pipeline | "raw", number[]>();
  const cpuOf = async (key: Pipeline | "raw", perJob: number, fn: () => Promise<number>): Promise<number> => {
    const c0 = process.cpuUsage();
    const k0 = childrenCpuMs();
    const rate = await fn();
    const c = process.cpuUsage(c0);
    const list = cpu.get(key) ?? [];
    list.push(((c.user + c.system) / 1000 + childrenCpuMs() - k0) / perJob);
    cpu.set(key, list);
    return rate;
  };
  const order = [...pipelines.values(), ...(jsThread === undefined ? [] : [jsThread])];
  for (let r = 0; r < repeats; r++) {
    raw.push(await cpuOf("raw", Math.ceil(jobs / batch) * batch, runRaw));
    // The tiers alternate which goes first, so neither always runs right after raw.
    const turn = r % 2 === 0 ? order : [...order.slice(0, pipelines.size).reverse(), ...order.slice(pipelines.size)];
    for (const p of turn) {
      const rate = await cpuOf(p, jobs, () => p.run(jobs));
      rates.set(p, [...(rates.get(p) ?? []), rate]);
    }
  }
  const uploaded = sink.bytes() - bytesBefore;
  for (const p of order) await p.close();
  await session.release();
  sink.close();
  rmSync(dir, { recursive: true, force: true });
  // Reference: raw at ORT's default intra-op threads (not used for the ratio).
  const d = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all", executionProviders: ["cpu"] });
  const defaultRuns: number[] = [];
  await rawWith(d)();
  for (let r = 0; r < repeats; r++) defaultRuns.push(await rawWith(d)());
  await d.release();

  const rawMedian = median(raw);
  const tierResult = (p: Pipeline): TierResult => {
    const runs = rates.get(p)!;
    const batchSizes = p.stages.get("batch") ?? [1];
    return {
      perSecond: { median: r1(median(runs)), runs: runs.map(r1) },
      ratio: r3(median(runs) / rawMedian),
      cpuMsPerJob: r3(median(cpu.get(p)!)),
      jobLatencyMs: { p50: r1(median(p.latencies)), p99: r1(percentile(p.latencies, 99)) },
      stageMedianMs: Object.fromEntries([...p.stages].map(([k, v]) => [k, r3(median(v))])),
      meanBatch: r1(batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length),
    };
  };
  const byTier = Object.fromEntries([...pipelines].map(([t, p]) => [t, tierResult(p)])) as Partial<Record<TierName, TierResult>>;
  const first = byTier[tiers[0]!]!;
  const js = jsThread === undefined ? undefined : tierResult(jsThread);
  const opt = byTier.OPTIMISTIC;
  const none = byTier.NONE;
  return {
    model: m.name,
    input: `${m.inputSpec.dtype}[${m.inputs(1)[0]!.shape.join(",")}]`,
    batch,
    trace,
    traceBytesPerJob: Math.round(uploaded / (jobs * repeats * order.length)),
    rawOrtDefaultPerSecond: r1(median(defaultRuns)),
    jobsPerRun: jobs,
    prefetch,
    rawPerSecond: { median: r1(rawMedian), runs: raw.map(r1) },
    pipelinePerSecond: first.perSecond,
    ratio: first.ratio,
    ...(js === undefined ? {} : { jsThreadPipelinePerSecond: js.perSecond, jsThreadRatio: js.ratio }),
    stageMedianMs: first.stageMedianMs,
    jobLatencyMs: first.jobLatencyMs,
    cpuMsPerJob: { raw: r3(median(cpu.get("raw")!)), pipeline: first.cpuMsPerJob, ...(js === undefined ? {} : { jsThreadPipeline: js.cpuMsPerJob }) },
    meanPipelineBatch: first.meanBatch,
    tiers: byTier,
    ...(opt === undefined || none === undefined
      ? {}
      : { optimisticVsNone: { throughput: r3(opt.perSecond.median / none.perSecond.median), latencyP50: r3(opt.jobLatencyMs.p50 / none.jobLatencyMs.p50) } }),
  };
}

/** What the bench can say about GPUs: it measures the CPU provider only, and says so. */
function gpuLine(): string {
  const backends = ort.listSupportedBackends();
  const cuda = backends.find((b) => b.name === "cuda");
  const listed = backends.map((b) => `${b.name}${b.bundled ? "" : " (not installed)"}`).join(", ");
  return cuda?.bundled === true
    ? `no GPU measured: this bench runs onnxruntime's CPU provider only (providers: ${listed}); the worker's GPU runs keep TF32 off unless cudaTf32 is set (worker/config.ts)`
    : `no GPU measured: this onnxruntime-node has no CUDA provider (providers: ${listed}); figures are CPU only`;
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
      tiers: { type: "string", default: "OPTIMISTIC,NONE" },
      "skip-js-thread": { type: "boolean", default: false },
    },
  });
  jsonJobs = values["json-jobs"];
  inProcess = values["in-process"];
  skipJsThread = values["skip-js-thread"];
  const tiers = [...new Set(values.tiers.toUpperCase().split(","))] as TierName[];
  if (tiers.length === 0 || tiers.some((t) => t !== "OPTIMISTIC" && t !== "NONE")) throw new Error("--tiers: OPTIMISTIC, NONE or both (comma-separated; the first is the main table's)");
  const gpu = gpuLine();
  console.log(gpu);
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
      `${r.model.padEnd(4)} ${r.input.padEnd(22)} batch ${String(r.batch).padStart(2)} ${tiers[0]}: raw ${String(r.rawPerSecond.median).padStart(7)}/s  pipeline ${String(r.pipelinePerSecond.median).padStart(7)}/s  ratio ${r.ratio.toFixed(2)}${r.jsThreadRatio === undefined ? "" : ` (JS-thread inference ${r.jsThreadRatio.toFixed(2)})`}  raw@ORT-default-threads ${r.rawOrtDefaultPerSecond}/s  cpu/job raw ${r.cpuMsPerJob.raw} pipeline ${r.cpuMsPerJob.pipeline} ms  p50 ${r.jobLatencyMs.p50} ms  uploaded ${r.traceBytesPerJob} B/job  stages ${JSON.stringify(r.stageMedianMs)}${
        r.optimisticVsNone === undefined ? "" : `\n     NONE ${r.tiers.NONE!.perSecond.median}/s ratio ${r.tiers.NONE!.ratio.toFixed(2)} cpu/job ${r.tiers.NONE!.cpuMsPerJob} ms p50 ${r.tiers.NONE!.jobLatencyMs.p50} ms; OPTIMISTIC/NONE throughput ${r.optimisticVsNone.throughput.toFixed(2)}, p50 ${r.optimisticVsNone.latencyP50.toFixed(2)}`
      }`,
    );
  for (const m of BENCH_MODELS.filter((x) => wanted.includes(x.name))) {
    for (const trace of traces) {
      for (const b of batchSizes) {
        const scale = 1;
        const n = Math.max(b, Math.round((jobs * m.jobsScale * scale) / b) * b);
        const r = await benchCase(m, b, trace, n, repeats, threads, tiers);
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
    gpu,
    command: `tsx bench/throughput.ts --jobs ${jobs} --repeats ${repeats} --batches ${values.batches} --models ${values.models} --traces ${values.traces} --threads ${threads} --latency ${values.latency} --gap ${values.gap} --block-ms ${values["block-ms"]} --relayer-poll-ms ${values["relayer-poll-ms"]} --tiers ${tiers.join(",")}${jsonJobs ? " --json-jobs" : ""}${inProcess ? " --in-process" : ""}${skipJsThread ? " --skip-js-thread" : ""}`,
    settings: { graphOptimizationLevel: "all", executionProvider: "cpu", intraOpNumThreads: threads, inferenceThread: true },
    repeats,
    results,
    latency,
  };
  console.log(
    `\n${tiers[0]} jobs:\n| model | input (per job) | batch | raw /s | pipeline /s | ratio | ratio, inference on the JS thread | CPU ms/job raw / pipeline | job latency p50 / p99 ms | uploaded bytes/job |\n|---|---|---|---|---|---|---|---|---|---|`,
  );
  for (const r of results)
    console.log(
      `| ${r.model} | ${r.input} | ${r.batch} | ${r.rawPerSecond.median} | ${r.pipelinePerSecond.median} | ${r.ratio.toFixed(2)} | ${r.jsThreadRatio?.toFixed(2) ?? "–"} | ${r.cpuMsPerJob.raw} / ${r.cpuMsPerJob.pipeline} | ${r.jobLatencyMs.p50} / ${r.jobLatencyMs.p99} | ${r.traceBytesPerJob} |`,
    );
  if (results.some((r) => r.optimisticVsNone !== undefined)) {
    console.log(
      "\nOPTIMISTIC against NONE (same inputs, interleaved; goals: throughput >= 0.95x NONE, p50 within 10 %):\n| model | batch | OPTIMISTIC /s | NONE /s | OPTIMISTIC / NONE | job latency p50 OPTIMISTIC / NONE ms | p50 ratio | CPU ms/job OPTIMISTIC / NONE |\n|---|---|---|---|---|---|---|---|",
    );
    for (const r of results) {
      const o = r.tiers.OPTIMISTIC;
      const n = r.tiers.NONE;
      if (o === undefined || n === undefined || r.optimisticVsNone === undefined) continue;
      console.log(
        `| ${r.model} | ${r.batch} | ${o.perSecond.median} | ${n.perSecond.median} | ${r.optimisticVsNone.throughput.toFixed(2)} | ${o.jobLatencyMs.p50} / ${n.jobLatencyMs.p50} | ${r.optimisticVsNone.latencyP50.toFixed(2)} | ${o.cpuMsPerJob} / ${n.cpuMsPerJob} |`,
      );
    }
  }
  console.log(gpu);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/throughput.json", JSON.stringify(out, null, 2) + "\n");
  console.log("written: bench/results/throughput.json");
}

const loadStart = loadavg();

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
