/**
 * The runtime's fast kernels against the step definitions read literally (one element at a time,
 * every term in order, a padding term added as +0), bit for bit, on inputs full of edge values:
 * signed zeros, NaN, infinities, subnormals, huge values. Plus precisions and NaN encoding.
 */
import { describe, expect, it } from "vitest";
import { BF16, FP16, FP32, lowerModel, roundTo, runProgram, TF32, type Program, type Step } from "../../canonical/index.js";
import { makeRounder } from "../../canonical/round.js";
import type { Tensor } from "../../protocol/index.js";
import { buildModel, values, type Attr, type InitSpec, type NodeSpec } from "./onnx-builder.js";

const ints = (v: number[]): Attr => ({ ints: v });

/** Values with edge cases sprinkled in (every 7th element). */
function edgy(n: number, seed: number, specials: boolean): number[] {
  const base = values(n, seed);
  const EDGE = [0, -0, 1e-40, -1e-40, 3e38, -3e38, Infinity, -Infinity, NaN];
  if (!specials) return base.map((v, i) => (i % 5 === 0 ? (i % 10 === 0 ? 0 : -0) : v));
  return base.map((v, i) => (i % 7 === 3 ? EDGE[(i * 13 + seed) % EDGE.length]! : v));
}

function bits(a: ArrayLike<number>): string[] {
  const f = Float32Array.from(a);
  return Array.from(new Uint32Array(f.buffer), (b) => b.toString(16));
}

/** One reduce step's output, element by element, from the definition. */
function reference(step: Step, read: (k: number) => ArrayLike<number>): number[] {
  const out: number[] = [];
  const shape = step.output.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const p = step.params;
  if (step.op === "conv" || step.op === "convtranspose") {
    const [, C, H, W] = step.operandTypes[0]!.shape as number[];
    const wShape = step.operandTypes[1]!.shape as number[];
    const [, M, OH, OW] = shape as number[];
    const group = p.group![0]!;
    const [sh, sw] = p.strides!;
    const [ph, pw] = p.pads!;
    const [dh, dw] = p.dilations!;
    const x = read(0);
    const w = read(1);
    const b = step.operands.length > 2 ? read(2) : undefined;
    const [KH, KW] = [wShape[2]!, wShape[3]!];
    for (let e = 0; e < n; e++) {
      const ow = e % OW!;
      const oh = Math.floor(e / OW!) % OH!;
      const m = Math.floor(e / (OW! * OH!)) % M!;
      const nn = Math.floor(e / (OW! * OH! * M!));
      let s = b === undefined ? 0 : b[m]!;
      if (step.op === "conv") {
        const Cg = wShape[1]!;
        const g = Math.floor(m / (M! / group));
        for (let c = 0; c < Cg; c++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const ih = oh * sh! - ph! + kh * dh!;
              const iw = ow * sw! - pw! + kw * dw!;
              const inside = ih >= 0 && ih < H! && iw >= 0 && iw < W!;
              s = s + (inside ? x[((nn * C! + g * Cg + c) * H! + ih) * W! + iw]! * w[((m * Cg + c) * KH + kh) * KW + kw]! : 0);
            }
      } else {
        const Mg = wShape[1]!;
        const Cg = C! / group;
        const g = Math.floor(m / Mg);
        for (let c = g * Cg; c < (g + 1) * Cg; c++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const th = oh + ph! - kh * dh!;
              const tw = ow + pw! - kw * dw!;
              const ih = th / sh!;
              const iw = tw / sw!;
              const inside = th >= 0 && tw >= 0 && Number.isInteger(ih) && Number.isInteger(iw) && ih < H! && iw < W!;
              s = s + (inside ? x[((nn * C! + c) * H! + ih) * W! + iw]! * w[((c * Mg + (m - g * Mg)) * KH + kh) * KW + kw]! : 0);
            }
      }
      out.push(Math.fround(s));
    }
    return out;
  }
  if (step.op === "matmul") {
    const a = read(0);
    const bm = read(1);
    const rank = shape.length;
    const [M, N] = [shape[rank - 2]!, shape[rank - 1]!];
    const K = step.operandTypes[0]!.shape[step.operandTypes[0]!.shape.length - 1]!;
    const aBatch = step.operandTypes[0]!.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const bBatch = step.operandTypes[1]!.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    for (let e = 0; e < n; e++) {
      const j = e % N;
      const i = Math.floor(e / N) % M;
      const bt = Math.floor(e / (M * N));
      const ab = aBatch === 1 ? 0 : bt;
      const bb = bBatch === 1 ? 0 : bt;
      let s = 0;
      for (let k = 0; k < K; k++) s = s + a[ab * M * K + i * K + k]! * bm[bb * K * N + k * N + j]!;
      out.push(Math.fround(s));
    }
    return out;
  }
  throw new Error(`no reference for ${step.op}`);
}

function check(program: Program, input: Tensor, stepIndex = 0): void {
  const { trace } = runProgram(program, input);
  const step = program.steps[stepIndex]!;
  const read = (k: number): ArrayLike<number> => {
    const o = step.operands[k]!;
    return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
  };
  // The definition's NaN is the canonical quiet NaN, whatever bits the JS engine produced.
  const expected = bits(reference(step, read)).map((b) => ((parseInt(b, 16) & 0x7fffffff) > 0x7f800000 ? "7fc00000" : b));
  const actual = bits(trace[stepIndex]!.data as Float32Array);
  const differ = actual.flatMap((b, i) => (b === expected[i] ? [] : [`${i}: ${b} vs ${expected[i]}`]));
  expect(differ).toEqual([]);
}

function modelWith(shape: number[], nodes: NodeSpec[], inits: InitSpec[]): Program {
  return lowerModel(buildModel({ input: { name: "x", shape }, output: "y", nodes, initializers: inits }));
}

const w = (name: string, shape: number[], seed: number, specials = false): InitSpec => ({ name, dtype: "float32", shape, values: edgy(shape.reduce((a, b) => a * b, 1), seed, specials) });
const input = (shape: number[], seed: number, specials: boolean): Tensor => ({ dtype: "float32", shape, data: Float32Array.from(edgy(shape.reduce((a, b) => a * b, 1), seed, specials)) });

describe("canonical runtime kernels against the step definitions", () => {
  for (const specials of [false, true]) {
    const tag = specials ? "edgeValues" : "signedZeros";
    it(`test_conv_${tag}_bitExact`, () => {
      // Column-matrix path (8 output channels) and direct path (depthwise), padding on every side.
      const p = modelWith([1, 4, 5, 6], [{ op: "Conv", inputs: ["x", "w", "b"], outputs: ["y"], attrs: { pads: ints([1, 2, 2, 1]), strides: ints([2, 1]), dilations: ints([2, 1]) } }], [w("w", [8, 4, 3, 3], 3, specials), w("b", [8], 4)]);
      check(p, input([1, 4, 5, 6], 5, specials));
      // Finite weights (the column-matrix path) on an input with edge values.
      const f = modelWith([1, 4, 5, 6], [{ op: "Conv", inputs: ["x", "w"], outputs: ["y"], attrs: { pads: ints([1, 1, 1, 1]) } }], [w("w", [8, 4, 3, 3], 13, false)]);
      check(f, input([1, 4, 5, 6], 14, specials));
      const d = modelWith([1, 4, 5, 6], [{ op: "Conv", inputs: ["x", "w"], outputs: ["y"], attrs: { group: { i: 4 }, pads: ints([1, 1, 1, 1]) } }], [w("w", [4, 1, 3, 3], 6, specials)]);
      check(d, input([1, 4, 5, 6], 7, specials));
      // All-zero inputs with negative weights: −0 products; a window touching the padding sums to +0.
      const z = modelWith([1, 4, 3, 3], [{ op: "Conv", inputs: ["x", "w"], outputs: ["y"], attrs: { pads: ints([1, 1, 1, 1]) } }], [{ name: "w", dtype: "float32", shape: [4, 4, 3, 3], values: new Array(144).fill(-1) }]);
      const zero = { dtype: "float32" as const, shape: [1, 4, 3, 3], data: new Float32Array(36).fill(-0) };
      check(z, zero);
      expect(Object.is(runProgram(z, zero).output.data[0], 0)).toBe(true);
    });

    it(`test_convTranspose_${tag}_bitExact`, () => {
      const p = modelWith([1, 4, 3, 4], [{ op: "ConvTranspose", inputs: ["x", "w", "b"], outputs: ["y"], attrs: { strides: ints([2, 2]), pads: ints([1, 0, 0, 1]) } }], [w("w", [4, 3, 3, 2], 8, specials), w("b", [3], 9)]);
      check(p, input([1, 4, 3, 4], 10, specials));
    });

    it(`test_matmul_${tag}_bitExact`, () => {
      const p = modelWith([2, 3, 9], [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }], [w("w", [9, 6], 11, specials)]);
      check(p, input([2, 3, 9], 12, specials));
    });
  }

  it("test_run_nanCanonicalAndPrecisions_succeeds", () => {
    const p = modelWith([1, 8], [{ op: "Mul", inputs: ["x", "c"], outputs: ["t"] }, { op: "MatMul", inputs: ["t", "w"], outputs: ["y"] }], [w("c", [8], 1), w("w", [8, 5], 2)]);
    const x: Tensor = { dtype: "float32", shape: [1, 8], data: Float32Array.from([Infinity, 0, 1.1, 2.2, 3.3, 4.4, 5.5, 6.6]) };
    // ∞·0 is NaN; every NaN written is 0x7fc00000.
    const t = runProgram(p, { ...x, data: Float32Array.from([NaN, Infinity, 1, 1, 1, 1, 1, 1]).map((v, i) => (i === 1 ? v * 0 : v)) });
    for (const s of t.trace) for (const b of new Uint32Array((s.data as Float32Array).slice().buffer)) if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) expect(b).toBe(0x7fc00000);
    // fp16/bf16: every float step output is representable in the format; tf32 rounds contraction operands.
    for (const [precision, format] of [["fp16", FP16], ["bf16", BF16]] as const) {
      const r = runProgram(p, x, { precision });
      for (const s of r.trace) for (const v of s.data as Float32Array) if (Number.isFinite(v)) expect(roundTo(v, format)).toBe(v);
    }
    const finite: Tensor = { ...x, data: Float32Array.from(values(8, 3)) };
    const tf = runProgram(p, finite, { precision: "tf32" });
    const c = (p.weights[0]!.tensor.data as Float32Array);
    const wt = p.weights[1]!.tensor.data as Float32Array;
    const tIn = Array.from(finite.data as Float32Array, (v, i) => Math.fround(v * c[i]!));
    const expected = Array.from({ length: 5 }, (_, j) => {
      let s = 0;
      for (let k = 0; k < 8; k++) s = s + roundTo(tIn[k]!, TF32) * roundTo(wt[k * 5 + j]!, TF32);
      return Math.fround(s);
    });
    expect(Array.from(tf.output.data as Float32Array)).toEqual(expected);
    expect(Array.from(runProgram(p, finite).output.data as Float32Array)).not.toEqual(expected);
  });

  it("test_makeRounder_equalsFloatRoundTo_succeeds", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const format of [FP16, BF16, TF32, FP32]) {
      const fast = makeRounder(format);
      const xs: number[] = [65504, 65519.99, 65520, 3.4028235677973366e38, 1e-300, 5e-324, -0, 0, Infinity, -Infinity, NaN];
      for (let i = 0; i < 5000; i++) xs.push((rand() - 0.5) * 2 ** (Math.floor(rand() * 300) - 160));
      // Exact ties, just above them, and representable values, at every exponent of the format.
      for (let e = format.emin - format.p - 2; e <= format.emax + 1; e++) {
        const q = 2 ** (e - format.p + 1);
        for (const m of [1, 2, 3, 2 ** format.p - 1]) xs.push(m * q + q / 2, -(m * q + q / 2), m * q + q / 2 + q / 1024, m * q);
      }
      const differ = xs.filter((x) => !Object.is(fast(x), roundTo(x, format)) && !(Number.isNaN(x)));
      expect(differ).toEqual([]);
      expect(fast(NaN)).toBeNaN();
    }
  });

  it("test_run_wrongInput_refused", () => {
    const p = modelWith([1, 8], [{ op: "Relu", inputs: ["x"], outputs: ["y"] }], []);
    expect(() => runProgram(p, { dtype: "float32", shape: [1, 9], data: new Float32Array(9) })).toThrow(/program takes float32\[1,8\]/);
  });
});
