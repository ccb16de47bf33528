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
import { DTYPES, numel, type DType, type Tensor, type TensorData } from "../protocol/tensor.js";
import type { Precision } from "./float.js";
import { canonicalError, type Program } from "./program.js";
import { runProgram } from "./run.js";

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

/** The binary64 bit pattern of a number, as a 0x-prefixed 16-digit hex string. */
export function float64Bits(x: number): `0x${string}` {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return `0x${b.toString("hex")}`;
}

function tolerance(abs: number, rel: number): Tolerance {
  return { abs, rel, absBits: float64Bits(abs), relBits: float64Bits(rel) };
}

/** Whether w is within (abs, rel) of c by the CanonicalTerms rule (NaN = NaN, equal infinities agree). */
export function withinTolerance(w: number, c: number, abs: number, rel: number): boolean {
  if (Number.isNaN(w) || Number.isNaN(c)) return Number.isNaN(w) && Number.isNaN(c);
  if (!Number.isFinite(w) || !Number.isFinite(c)) return w === c;
  return Math.abs(w - c) <= abs + rel * Math.abs(c);
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
 * τ_out from the worst deviation: both forms cover every measured element with the margin — (margin ×
 * worst abs, 0), or (margin × floor, margin × worst rel) — and the one that allows less at the typical
 * element (the median |c|) is kept. The abs form wins when deviations do not scale with |c| (probabilities
 * near 0 and 1 alike); the rel form when they do (logits, maps with a wide range of magnitudes).
 */
export function chooseTolerance(o: { worstAbs: number; worstRel: number; relFloor: number; typicalScale: number; margin: number }): { form: "abs" | "rel"; abs: number; rel: number } {
  const byAbs = o.margin * o.worstAbs;
  const byRel = Number.isFinite(o.worstRel) ? o.margin * (o.relFloor + o.worstRel * o.typicalScale) : Infinity;
  return byRel < byAbs ? { form: "rel", abs: o.margin * o.relFloor, rel: o.margin * o.worstRel } : { form: "abs", abs: byAbs, rel: 0 };
}

/** The median |c| over the finite elements of the canonical outputs. */
function medianMagnitude(outputs: Tensor[]): number {
  const all: number[] = [];
  for (const t of outputs) {
    const d = dataOf(t);
    for (let i = 0; i < d.length; i++) if (Number.isFinite(d[i]!)) all.push(Math.abs(d[i]!));
  }
  return all.length === 0 ? 0 : median(all);
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

class DeviationMeter {
  abs = 0;
  rel = 0;
  elements = 0;
  identical = 0;
  nonFinite = 0;
  worstInput = "";
  constructor(readonly relFloor: number) {}

  add(w: ArrayLike<number>, c: ArrayLike<number>, label: string): void {
    if (w.length !== c.length) throw canonicalError("TENSOR_SPEC_MISMATCH", `output lengths differ: ${w.length} vs ${c.length} (${label})`);
    for (let i = 0; i < c.length; i++) {
      const wi = Number(w[i]);
      const ci = Number(c[i]);
      this.elements++;
      if (Object.is(wi, ci) || (Number.isNaN(wi) && Number.isNaN(ci))) {
        this.identical++;
        continue;
      }
      if (!Number.isFinite(wi) || !Number.isFinite(ci)) {
        this.nonFinite++;
        continue;
      }
      const d = Math.abs(wi - ci);
      if (d > this.abs) {
        this.abs = d;
        this.worstInput = label;
      }
      const over = d - this.relFloor;
      if (over > 0) {
        const r = over / Math.abs(ci); // |c| = 0 with d above the floor: no rel covers it (Infinity)
        if (r > this.rel) this.rel = r;
      }
    }
  }
}

interface FastRuntime {
  name: string;
  run(input: Tensor): Promise<Tensor>;
  close(): Promise<void>;
}

type OrtModule = typeof import("onnxruntime-node");

function toTensor(t: { type: string; dims: readonly number[]; data: unknown }): Tensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: (t.data as TensorData).slice() as TensorData };
}

async function nodeRuntime(ort: OrtModule, bytes: Uint8Array, outputName: string, level: OptimizationLevel, threads: number): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, ...(threads > 0 ? { intraOpNumThreads: threads } : {}), executionProviders: ["cpu"] });
  const inputName = session.inputNames[0]!;
  return {
    name: `onnxruntime-node cpu ${level} threads=${threads > 0 ? threads : "default"}`,
    async run(x) {
      const out = await session.run({ [inputName]: new ort.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

async function webgpuRuntime(ort: OrtModule, bytes: Uint8Array, outputName: string): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
  const inputName = session.inputNames[0]!;
  return {
    name: "onnxruntime-node webgpu",
    async run(x) {
      const out = await session.run({ [inputName]: new ort.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

async function wasmRuntime(bytes: Uint8Array, outputName: string): Promise<FastRuntime> {
  const ortWeb = await import("onnxruntime-web");
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const inputName = session.inputNames[0]!;
  return {
    name: "onnxruntime-web wasm threads=1",
    async run(x) {
      const out = await session.run({ [inputName]: new ortWeb.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

function dataOf(t: Tensor): ArrayLike<number> {
  return t.data as ArrayLike<number>;
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
  for (let k = 0; k < (options.seeded ?? 2); k++) held.push({ label: `seeded:${seed + k}`, tensor: seededInput(program.input.dtype, options.inputShape, seed + k, options.range) });
  if (held.length === 0) throw canonicalError("TENSOR_SPEC_MISMATCH", "calibration needs at least one held input");

  // The reference: canonical fp32 on every held input (timed: the speed figure).
  const canonical: Tensor[] = [];
  const canonicalMs: number[] = [];
  const precision: Precision = options.precision ?? "fp32";
  runProgram(program, held[0]!.tensor, { precision }); // warm-up (JIT)
  for (const h of held) {
    const t = performance.now();
    canonical.push(runProgram(program, h.tensor, { precision }).output);
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
      factories.push({ name: `onnxruntime-node cpu ${level} threads=${threads > 0 ? threads : "default"}`, make: () => nodeRuntime(ort, bytes, program.output.name, level, threads) });
    }
  }
  if (options.wasm !== false) factories.push({ name: "onnxruntime-web wasm threads=1", make: () => wasmRuntime(bytes, program.output.name) });
  // onnxruntime-node bundles WebGPU (Dawn over Vulkan): measured where an adapter exists, else recorded as skipped.
  if (options.webgpu !== false) factories.push({ name: "onnxruntime-node webgpu", make: () => webgpuRuntime(ort, bytes, program.output.name) });

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
      await rt.run(held[0]!.tensor); // warm-up
      for (let k = 0; k < held.length; k++) {
        const t = performance.now();
        const w = await rt.run(held[k]!.tensor);
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
      const w = dataOf(runProgram(program, h.tensor, { precision: "tf32" as Precision }).output);
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
