/**
 * τ_out calibration (docs/OPTIMISTIC.md "τ_out", docs/V2.md §2 and §5): how far honest fast runtimes
 * land from the canonical output of a model, measured, and the OPTIMISTIC tolerances chosen from it.
 *
 * For a lowered program and held inputs (seeded random within the model's input range, plus real
 * inputs where the caller has them) this runs
 *
 * - onnxruntime-node (CPU) at every graph optimization level (disabled, basic, extended, all) × intra-op
 *   threads (1, 2, the library default),
 * - onnxruntime-web's wasm backend in Node (single-threaded), when it loads (offline, from node_modules),
 * - onnxruntime-node's WebGPU provider where the machine has an adapter (recorded as skipped otherwise),
 * - the canonical runtime at fp32 (the reference every runtime is measured against) and at tf32 (what a
 *   GPU that multiplies in TF32 would produce against an fp32 commitment),
 *
 * and measures, per element, the smallest (abs, rel) with |w − c| ≤ abs + rel·|c| (NaN = NaN, equal
 * infinities agree): the worst abs at rel = 0, and the worst rel above a small abs floor. τ_out is a
 * documented margin times the worst, τ_major a further factor (see TAU_OUT_MARGIN, TAU_MAJOR_FACTOR).
 * The tolerances are returned as the binary64 bit patterns `CanonicalTerms` stores
 * (contracts/interfaces/IDisputeGame.sol) and as numbers.
 *
 * onnxruntime is imported lazily, so importing this module costs nothing to code that never calibrates.
 */
import { DTYPES, type DType, type Tensor, type TensorData, numel } from "../protocol/index.js";
import { DeviationMeter, chooseTolerance, median, medianMagnitude, tolerance, withinTolerance } from "./deviation.js";
import { type FastRuntime, type OrtModule, concatTensors, dataOf, nodeRuntime, wasmRuntime, webgpuRuntime } from "./fast-runtimes.js";
import type { Precision } from "./float.js";
import { type Program, canonicalError } from "./program.js";
import { runProgram } from "./run.js";
export { chooseTolerance, float64Bits, withinTolerance } from "./deviation.js";

/**
 * τ_out = TAU_OUT_MARGIN × the worst deviation measured over every runtime and held input.
 *
 * Why 16: held inputs are a sample, and worse inputs exist. On the PP-OCR classifier the worst over 16
 * held inputs was 1.5x the worst over 4 (docs/OPTIMISTIC.md), and inputs hill-climbed towards a decision
 * boundary inside the valid range reached 6.5x the worst of 200 random and rendered ones
 * (shared/DESIGN.md). 16 covers the crafted-input growth with 2.5x to spare. An honest worker pushed
 * beyond τ_out by a crafted input is ruled OutputMinor (a small slash), never WorkerFault, so the margin
 * leans towards catching manipulation rather than absorbing it.
 */
export const TAU_OUT_MARGIN = 16;

/**
 * τ_major = TAU_MAJOR_FACTOR × τ_out (256x the measured worst): beyond it a signed output is a full
 * WorkerFault. Honest fp32 runtimes on inputs outside the valid range reached 12x the random-input worst
 * on the classifier (DESIGN.md), so τ_major leaves them 20x room; what reaches it is a computation that
 * is not the committed one (another precision such as TF32 without precision tf32, other weights, an
 * edited output).
 */
export const TAU_MAJOR_FACTOR = 16;

/** The abs floor under which the relative measure ignores deviations: 2^-20 × the largest |c| (8 to 16 fp32 ulps of it, by where it falls in its binade). */
export const REL_FLOOR_SCALE = 2 ** -20;

/** The runtime the canonical runtime's speed is compared with. */
const SPEED_BASELINE = "onnxruntime-node cpu all threads=1";

export const OPTIMIZATION_LEVELS = ["disabled", "basic", "extended", "all"] as const;
export type OptimizationLevel = (typeof OPTIMIZATION_LEVELS)[number];
/** Intra-op thread counts tried; 0 is onnxruntime's default (one per physical core). */
export const THREAD_COUNTS = [1, 2, 0] as const;

export interface HeldInput {
  /** Where it comes from: `seeded:<seed>` or the caller's label (a file name). */
  label: string;
  tensor: Tensor;
  /** A model with several inputs: one tensor per input, in canonical name order (`tensor` is the first). */
  tensors?: Tensor[];
}

/** The deviation of one runtime's outputs from canonical fp32 over all held inputs. */
export interface Deviation {
  runtime: string;
  /** Worst |w − c| (rel = 0), over finite elements where both agree on finiteness. */
  abs: number;
  /** Worst max(0, |w − c| − relFloor) / |c|: the rel that covers every element above the abs floor. */
  rel: number;
  /** Elements compared, and those bit-identical to canonical. */
  elements: number;
  identical: number;
  /** Elements where one side is NaN or infinite and the other is not the same: no finite τ covers them. */
  nonFinite: number;
  /** The held input with the worst abs deviation. */
  worstInput: string;
  /** Median milliseconds per run (after a warm-up). */
  medianMs: number;
}

export interface Tolerance {
  abs: number;
  rel: number;
  /** binary64 bit patterns, as CanonicalTerms stores them (uint64, hex). */
  absBits: `0x${string}`;
  relBits: `0x${string}`;
}

export interface Calibration {
  /** The precision of the canonical reference (the model's committed precision). */
  precision: Precision;
  inputShape: number[];
  inputs: string[];
  /** Largest |c| seen on the canonical fp32 outputs, the abs floor of the relative measure, and the median |c|. */
  outputScale: number;
  typicalScale: number;
  relFloor: number;
  /** Every runtime measured (onnxruntime-node levels × threads, onnxruntime-web wasm). */
  runtimes: Deviation[];
  /** Runtimes that could not run here, with the reason (e.g. wasm failing to load). */
  skipped: Array<{ runtime: string; reason: string }>;
  /** The worst over all runtimes. */
  worst: { abs: number; rel: number; nonFinite: number };
  /** The form chosen (chooseTolerance): "abs" (abs = margin × worst abs, rel = 0) or "rel" (abs = margin × floor, rel = margin × worst rel), whichever allows less at the median |c|. */
  form: "abs" | "rel";
  margin: number;
  majorFactor: number;
  tauOut: Tolerance;
  tauMajor: Tolerance;
  /** The canonical tf32 output against canonical fp32: what a TF32 GPU would need, and whether τ_out/τ_major cover it. */
  tf32: { abs: number; rel: number; withinTauOut: boolean; withinTauMajor: boolean; note: string };
  /** Median canonical fp32 ms per run, median onnxruntime (all, 1 thread) ms, and the median over held inputs of their ratio. */
  speed: { canonicalMs: number; onnxruntimeMs: number; ratio: number };
}

export interface CalibrateOptions {
  inputShape: number[];
  /** Real inputs (rendered images, samples shipped with the model). */
  inputs?: HeldInput[];
  /** Seeded random inputs within `range` (default 2). */
  seeded?: number;
  seed?: number;
  /** Input value range for the seeded inputs (default [-1, 1] for floats, the dtype's range for integers). */
  range?: [number, number];
  /** Default: every level. */
  levels?: readonly OptimizationLevel[];
  /** Default: THREAD_COUNTS. */
  threads?: readonly number[];
  /** Try onnxruntime-web's wasm backend (default true). */
  wasm?: boolean;
  /** Try onnxruntime-node's WebGPU provider (default true; skipped with the reason where no adapter exists). */
  webgpu?: boolean;
  /** The committed precision: the canonical reference runs at it (default fp32). */
  precision?: Precision;
  /** Also measure the canonical tf32 output against fp32 (default true; only at precision fp32). */
  tf32?: boolean;
  margin?: number;
  majorFactor?: number;
}

const INT_RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  bool: [0, 1],
};

/** A deterministic input of the program's type, uniform in [lo, hi] (integers: rounded). */
export function seededInput(dtype: DType, shape: number[], seed: number, range?: [number, number]): Tensor {
  const [lo, hi] = range ?? INT_RANGES[dtype] ?? [-1, 1];
  const n = numel(shape);
  const Ctor = DTYPES[dtype].array;
  if (Ctor === BigInt64Array || Ctor === BigUint64Array) throw canonicalError("TENSOR_SPEC_MISMATCH", `cannot calibrate on a ${dtype} input`);
  const data = new (Ctor as Float32ArrayConstructor)(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  const integer = dtype !== "float32" && dtype !== "float64";
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = (s >>> 8) / 2 ** 24;
    data[i] = integer ? Math.min(hi, Math.floor(lo + u * (hi - lo + 1))) : lo + u * (hi - lo);
  }
  return { dtype, shape: [...shape], data: data as unknown as TensorData };
}

/**
 * Calibrates τ_out for `program` (lowered from `bytes` at `options.inputShape`). Throws when no held
 * input is given or the model's output cannot be compared.
 */
export async function calibrate(bytes: Uint8Array, program: Program, options: CalibrateOptions): Promise<Calibration> {
  const margin = options.margin ?? TAU_OUT_MARGIN;
  const majorFactor = options.majorFactor ?? TAU_MAJOR_FACTOR;
  const held: HeldInput[] = [...(options.inputs ?? [])];
  const seed = options.seed ?? 1;
  const several = program.inputs.length > 1;
  for (let k = 0; k < (options.seeded ?? 2); k++) {
    if (!several) held.push({ label: `seeded:${seed + k}`, tensor: seededInput(program.input.dtype, options.inputShape, seed + k, options.range) });
    else {
      // Several inputs: each seeded at its own (static) shape, one seed per input.
      const tensors = program.inputs.map((x, i) => seededInput(x.dtype, x.shape, (seed + k) * 1009 + i, options.range));
      held.push({ label: `seeded:${seed + k}`, tensor: tensors[0]!, tensors });
    }
  }
  const feed = (h: HeldInput) => h.tensors ?? h.tensor;
  // Several outputs: compared as one vector, every output flattened in canonical name order.
  const io = { inputs: program.inputs.map((x) => x.name), outputs: program.outputs.map((x) => x.name) };
  if (held.length === 0) throw canonicalError("TENSOR_SPEC_MISMATCH", "calibration needs at least one held input");

  // The reference: canonical fp32 on every held input (timed: the speed figure).
  const canonical: Tensor[] = [];
  const canonicalMs: number[] = [];
  const precision: Precision = options.precision ?? "fp32";
  runProgram(program, feed(held[0]!), { precision }); // warm-up (JIT)
  for (const h of held) {
    const t = performance.now();
    canonical.push(concatTensors(runProgram(program, feed(h), { precision }).outputs));
    canonicalMs.push(performance.now() - t);
  }
  let outputScale = 0;
  for (const c of canonical) {
    const d = dataOf(c);
    for (let i = 0; i < d.length; i++) if (Number.isFinite(d[i]!) && Math.abs(d[i]!) > outputScale) outputScale = Math.abs(d[i]!);
  }
  const relFloor = outputScale * REL_FLOOR_SCALE;
  const typicalScale = medianMagnitude(canonical);

  const ortImport = (await import("onnxruntime-node")) as unknown as { default?: OrtModule } & OrtModule;
  const ort = ortImport.default ?? ortImport;
  const factories: Array<{ name: string; make: () => Promise<FastRuntime> }> = [];
  for (const level of options.levels ?? OPTIMIZATION_LEVELS) {
    for (const threads of options.threads ?? THREAD_COUNTS) {
      factories.push({ name: `onnxruntime-node cpu ${level} threads=${threads > 0 ? threads : "default"}`, make: () => nodeRuntime(ort, bytes, io, level, threads) });
    }
  }
  if (options.wasm !== false) factories.push({ name: "onnxruntime-web wasm threads=1", make: () => wasmRuntime(bytes, io) });
  // onnxruntime-node bundles WebGPU (Dawn over Vulkan): measured where an adapter exists, else recorded as skipped.
  if (options.webgpu !== false) factories.push({ name: "onnxruntime-node webgpu", make: () => webgpuRuntime(ort, bytes, io) });

  const runtimes: Deviation[] = [];
  let baselineMs: number[] | undefined;
  const skipped: Calibration["skipped"] = [];
  for (const f of factories) {
    let rt: FastRuntime;
    try {
      rt = await f.make();
    } catch (error) {
      // onnxruntime prefixes its source location and assertion ("…webgpu_context.cc:136 … was false. Failed to get …"): keep the sentence.
      const line = (error as Error).message.split("\n")[0]!;
      skipped.push({ runtime: f.name, reason: /(Failed to .*)$/.exec(line)?.[1] ?? line });
      continue;
    }
    try {
      const meter = new DeviationMeter(relFloor);
      const ms: number[] = [];
      await rt.run(feed(held[0]!)); // warm-up
      for (let k = 0; k < held.length; k++) {
        const t = performance.now();
        const w = await rt.run(feed(held[k]!));
        ms.push(performance.now() - t);
        meter.add(dataOf(w), dataOf(canonical[k]!), held[k]!.label);
      }
      if (rt.name === SPEED_BASELINE) baselineMs = ms;
      runtimes.push({ runtime: rt.name, abs: meter.abs, rel: meter.rel, elements: meter.elements, identical: meter.identical, nonFinite: meter.nonFinite, worstInput: meter.worstInput, medianMs: median(ms) });
    } finally {
      await rt.close();
    }
  }
  if (runtimes.length === 0) throw canonicalError("MODEL_UNKNOWN", `no runtime could run the model: ${skipped.map((s) => `${s.runtime}: ${s.reason}`).join("; ")}`);

  const worst = {
    abs: Math.max(...runtimes.map((r) => r.abs)),
    rel: Math.max(...runtimes.map((r) => r.rel)),
    nonFinite: runtimes.reduce((n, r) => n + r.nonFinite, 0),
  };
  const chosen = chooseTolerance({ worstAbs: worst.abs, worstRel: worst.rel, relFloor, typicalScale, margin });
  const form = chosen.form;
  const tauOut = tolerance(chosen.abs, chosen.rel);
  const tauMajor = tolerance(majorFactor * tauOut.abs, majorFactor * tauOut.rel);

  // What a TF32 worker would need against an fp32 commitment.
  let tf32: Calibration["tf32"] = { abs: NaN, rel: NaN, withinTauOut: false, withinTauMajor: false, note: "not measured" };
  if (options.tf32 !== false && precision === "fp32") {
    const meter = new DeviationMeter(relFloor);
    let inOut = true;
    let inMajor = true;
    held.forEach((h, k) => {
      const w = dataOf(concatTensors(runProgram(program, feed(h), { precision: "tf32" as Precision }).outputs));
      const c = dataOf(canonical[k]!);
      meter.add(w, c, h.label);
      for (let i = 0; i < c.length; i++) {
        if (!withinTolerance(w[i]!, c[i]!, tauOut.abs, tauOut.rel)) inOut = false;
        if (!withinTolerance(w[i]!, c[i]!, tauMajor.abs, tauMajor.rel)) inMajor = false;
      }
    });
    const note = inOut
      ? "TF32 contractions stay within τ_out on these inputs; a TF32 worker should still declare precision tf32 or run with use_tf32=0"
      : `TF32 contractions land beyond τ_out (worst ${meter.abs.toExponential(2)} vs ${tauOut.abs.toExponential(2)}${inMajor ? "" : ", beyond τ_major too: a full slash"}): a worker whose provider multiplies in TF32 (onnxruntime CUDA's default) must run with use_tf32=0, or the model must be committed at precision tf32`;
    tf32 = { abs: meter.abs, rel: meter.rel, withinTauOut: inOut, withinTauMajor: inMajor, note };
  }

  const fast = runtimes.find((r) => r.runtime === SPEED_BASELINE) ?? runtimes[0]!;
  const canonicalMedian = median(canonicalMs);
  // The median over held inputs of (canonical time / onnxruntime time) on the same input.
  const ratio = baselineMs !== undefined ? median(canonicalMs.map((c, k) => c / Math.max(baselineMs![k]!, 1e-3))) : canonicalMedian / Math.max(fast.medianMs, 1e-3);
  return {
    precision,
    inputShape: [...options.inputShape],
    inputs: held.map((h) => h.label),
    outputScale,
    typicalScale,
    relFloor,
    runtimes,
    skipped,
    worst,
    form,
    margin,
    majorFactor,
    tauOut,
    tauMajor,
    tf32,
    speed: { canonicalMs: canonicalMedian, onnxruntimeMs: fast.medianMs, ratio },
  };
}
