/**
 * Worker pipeline throughput against raw onnxruntime-node, per model and batch size, in one run.
 *
 *   raw:      InferenceSession.run back to back, `batch` inputs concatenated per run
 *   pipeline: jobs through the in-process queue -> validate -> decode -> spec check -> inference
 *             lane (dynamic batching up to `batch`) -> encode -> hash -> EIP-712 sign -> publish
 *             the result message (inline inputs, so no HTTP fetch; model verified, session warm)
 *
 * For each model and batch size the raw and pipeline runs are interleaved (machine noise hits both
 * alike); medians over repeats; the ratio is pipeline / raw at the SAME batch size. Models: the
 * PP-OCR text-direction classifier, detector and recognizer (bench/models.ts). Writes
 * bench/results/throughput.json and prints a table.
 *
 * Usage: tsx bench/throughput.ts [--jobs 200] [--repeats 5] [--batches 1,8] [--models cls,det,rec]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import * as ort from "onnxruntime-node";
import { QUEUES, Tier, createLogger, encodeTensor, hashEncoded, resolveNpmUri, type Job, type Tensor } from "../protocol/index.js";
import { InProcessQueue } from "../queue/index.js";
import { StaticCatalog, Worker, sha256File } from "../worker/index.js";
import { concatBatch } from "../worker/batcher.js";
import { BENCH_MODELS, type BenchModel } from "./models.js";

const ORACLE = "0x00000000000000000000000000000000000000aa";
const CHAIN_ID = 31337n;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number) => Number(x.toFixed(1));
const r3 = (x: number) => Number(x.toFixed(3));

interface CaseResult {
  model: string;
  input: string;
  batch: number;
  jobsPerRun: number;
  prefetch: number;
  rawPerSecond: { median: number; runs: number[] };
  pipelinePerSecond: { median: number; runs: number[] };
  ratio: number;
  /** Median ms per job of each worker stage, as the worker reports them in its results. */
  stageMedianMs: Record<string, number>;
  /** Requests per session.run in the pipeline (mean). */
  meanPipelineBatch: number;
}

async function benchCase(m: BenchModel, batch: number, jobs: number, repeats: number): Promise<CaseResult> {
  const modelPath = resolveNpmUri(m.uri);
  const modelHash = await sha256File(modelPath);
  const inputs: Tensor[] = m.inputs(16);
  const encoded = inputs.map((t) => encodeTensor(t));
  const hashes = encoded.map((e) => hashEncoded(e));
  const hexes = encoded.map((e) => `0x${e.toString("hex")}`);

  // Raw onnxruntime, batch `batch`: the worker's settings (graph optimization "all", ORT's thread choice).
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all" });
  const inputName = session.inputNames[0]!;
  const batches = Array.from({ length: inputs.length }, (_, i) => concatBatch(Array.from({ length: batch }, (_, j) => inputs[(i + j) % inputs.length]!)));
  const runRaw = async (): Promise<number> => {
    const runs = Math.ceil(jobs / batch);
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      const t = batches[i % batches.length]!;
      await session.run({ [inputName]: new ort.Tensor(t.dtype, t.data as Float32Array, t.shape) });
    }
    return ((runs * batch) / (performance.now() - t0)) * 1000;
  };

  const dir = mkdtempSync(join(tmpdir(), "bench-throughput-"));
  const queue = new InProcessQueue();
  const prefetch = Math.max(4, 2 * batch);
  const worker = new Worker({
    queue,
    logger: createLogger("bench", { level: "error" }),
    catalog: new StaticCatalog([{ modelHash, uris: [m.uri], input: m.inputSpec, output: m.outputSpec }]),
    config: {
      signerKey: Wallet.createRandom().privateKey,
      allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
      modelCacheDir: join(dir, "models"),
      prefetch,
      maxInputBytes: 4 << 20,
      maxInlineOutputBytes: 4 << 20, // no blob store here: outputs travel inline
      batching: batch > 1 ? { default: { maxBatch: batch, maxWaitMs: 2 } } : {},
    },
  });
  await worker.start();
  let received = 0;
  let notify: (() => void) | undefined;
  const stages = new Map<string, number[]>();
  await queue.consume(
    QUEUES.results,
    async (d) => {
      const body = d.body as { kind: string; timings?: Record<string, number>; message?: string };
      if (body.kind !== "result") throw new Error(`bench job rejected: ${body.message}`);
      for (const [k, v] of Object.entries(body.timings ?? {})) {
        let list = stages.get(k);
        if (list === undefined) stages.set(k, (list = []));
        list.push(v);
      }
      received++;
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
    input: hexes[i % hexes.length]!,
    inputURI: "",
    tier: Tier.OPTIMISTIC,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    observedAt: Date.now(),
  });
  let runNo = 0;
  const runPipeline = async (): Promise<number> => {
    const run = ++runNo;
    const messages = Array.from({ length: jobs }, (_, i) => job(i, run)); // built before the clock starts
    const target = received + jobs;
    const done = new Promise<void>((resolve) => {
      notify = () => received >= target && resolve();
    });
    const t0 = performance.now();
    for (const msg of messages) await queue.publish(QUEUES.jobs, msg);
    await done;
    return (jobs / (performance.now() - t0)) * 1000;
  };

  // Warm both (model fetch + hash check, session creation, JIT).
  await runRaw();
  await runPipeline();
  stages.clear();
  const raw: number[] = [];
  const pipeline: number[] = [];
  for (let r = 0; r < repeats; r++) {
    raw.push(await runRaw());
    pipeline.push(await runPipeline());
  }
  await worker.close();
  await queue.close();
  await session.release();
  rmSync(dir, { recursive: true, force: true });

  const batchSizes = stages.get("batch") ?? [1];
  return {
    model: m.name,
    input: `${m.inputSpec.dtype}[${m.inputs(1)[0]!.shape.join(",")}]`,
    batch,
    jobsPerRun: jobs,
    prefetch,
    rawPerSecond: { median: r1(median(raw)), runs: raw.map(r1) },
    pipelinePerSecond: { median: r1(median(pipeline)), runs: pipeline.map(r1) },
    ratio: r3(median(pipeline) / median(raw)),
    stageMedianMs: Object.fromEntries([...stages].map(([k, v]) => [k, r3(median(v))])),
    meanPipelineBatch: r1(batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: {
      jobs: { type: "string", default: "200" },
      repeats: { type: "string", default: "5" },
      batches: { type: "string", default: "1,8" },
      models: { type: "string", default: BENCH_MODELS.map((m) => m.name).join(",") },
    },
  });
  const jobs = Number(values.jobs);
  const repeats = Number(values.repeats);
  const batchSizes = values.batches.split(",").map(Number);
  const wanted = values.models.split(",");
  const results: CaseResult[] = [];
  for (const m of BENCH_MODELS.filter((x) => wanted.includes(x.name))) {
    for (const b of batchSizes) {
      const n = Math.max(b, Math.round((jobs * m.jobsScale) / b) * b);
      const r = await benchCase(m, b, n, repeats);
      results.push(r);
      console.log(
        `${r.model.padEnd(4)} ${r.input.padEnd(22)} batch ${String(b).padStart(2)}: raw ${String(r.rawPerSecond.median).padStart(7)}/s  pipeline ${String(r.pipelinePerSecond.median).padStart(7)}/s  ratio ${r.ratio.toFixed(2)}  (mean batch ${r.meanPipelineBatch}) stages ${JSON.stringify(r.stageMedianMs)}`,
      );
    }
  }
  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}, onnxruntime-node CPU`,
    command: `tsx bench/throughput.ts --jobs ${jobs} --repeats ${repeats} --batches ${values.batches} --models ${values.models}`,
    repeats,
    results,
  };
  console.log("\n| model | input (per job) | batch | raw /s | pipeline /s | ratio |\n|---|---|---|---|---|---|");
  for (const r of results) console.log(`| ${r.model} | ${r.input} | ${r.batch} | ${r.rawPerSecond.median} | ${r.pipelinePerSecond.median} | ${r.ratio.toFixed(2)} |`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/throughput.json", JSON.stringify(out, null, 2) + "\n");
  console.log("written: bench/results/throughput.json");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
