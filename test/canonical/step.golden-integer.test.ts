/**
 * CanonicalStep.sol against canonical/element.ts, bit for bit, on integer and quantized steps: the
 * MNIST int8 MLP's reduce steps (every fold), integer maps, quantize and requantize on seeded and
 * special operands, every element of the lowered coverage programs (issue 14 operators), 3-D
 * conv/pool and integer conv folds, the integer sum and malformed records. The cls program and the
 * float map ops: step.golden.test.ts.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { finalizeReduce, lowerModel, mapElement, reduceTerms, runProgram, type Step } from "../../canonical/index.js";
import { canonicalBits, decodePartial, encodePartial, mapOpCode, mapParamsOf, PARTIAL_KINDS, partialKindOf, partialStates, precisionCode, wordOf } from "../../canonical/partial.js";
import { seededRandom, type Tensor } from "../../protocol/index.js";
import { buildModel, values as seededValues, type InitSpec, type NodeSpec } from "./onnx-builder.js";
import { BOOL_IN, broadcastFlat, checkFolds, checkMaps, coordsOf, deployStepHarness, hex64, hexOf, MASK64, packMaps, picks, SPECIAL, syntheticStep, type FoldCheck, type MapVec } from "./step-golden.harness.js";

let harness: any;
beforeAll(async () => {
  harness = await deployStepHarness(false);
});

describe("CanonicalStep (golden, bit for bit with canonical/element.ts)", () => {
  it("test_mnistInt8Mlp_integerAndFloatReduceSteps_everyFold_matchElementTs", async () => {
    const mnist = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const input: Tensor = { dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).map((_, i) => ((i * 53) % 256) - 128) };
    const { trace } = runProgram(mnist, input, { precision: "fp32" });
    const rand = seededRandom(71);
    const c: FoldCheck = { records: [], terms: [], next: [], finals: [], inits: [] };
    const kinds = new Set<string>();
    for (const step of mnist.steps) {
      if (step.kind !== "reduce") continue;
      const read = (k: number) => {
        const o = step.operands[k]!;
        return (o.source === "input" ? input.data : o.source === "weight" ? mnist.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
      };
      const integer = step.output.dtype !== "float32";
      for (const e of picks(step, 3, rand)) {
        const r = reduceTerms(step, read, e, "fp32");
        const kind = partialKindOf(r, integer);
        kinds.add(kind);
        const states = partialStates(r, integer);
        const recs = states.map((st) => hexOf(encodePartial(st)));
        for (const st of states) expect(decodePartial(encodePartial(st))).toEqual(st);
        for (let t = 0; t < r.terms.length; t++) {
          c.records.push(recs[t]!);
          c.terms.push(wordOf(kind, r.terms[t]!));
          c.next.push(recs[t + 1]!);
        }
        c.inits.push({ kind: PARTIAL_KINDS[kind], count: r.count, init: wordOf(kind, r.init), want: recs[0]! });
        const fin = finalizeReduce(step, r, states.at(-1)!.acc, "fp32");
        c.finals.push({ record: recs.at(-1)!, precision: 0, want: wordOf(kind, fin), what: `mnist step ${step.index} ${step.op} e ${e}` });
      }
    }
    expect(kinds.has("isum")).toBe(true);
    expect(await checkFolds(c)).toBeGreaterThan(100);
  }, 60_000);

  it("test_integerMaps_mnistStepsAndSeededOperands_matchElementTs", async () => {
    const DT: Record<string, number> = { uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, uint32: 12 };
    const vecs: { op: number; dtype: number; fromFloat: boolean; operands: bigint[]; params: bigint[]; want: bigint; what: string }[] = [];
    const i64 = (v: number) => BigInt(v) & MASK64;
    // Every integer map step of the int8 MNIST MLP, seeded elements.
    const mnist = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const input: Tensor = { dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).map((_, i) => ((i * 53) % 256) - 128) };
    const { trace } = runProgram(mnist, input, { precision: "fp32" });
    const rand = seededRandom(81);
    for (const step of mnist.steps) {
      if (step.kind !== "map") continue;
      const read = (k: number) => {
        const o = step.operands[k]!;
        return (o.source === "input" ? input.data : o.source === "weight" ? mnist.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
      };
      for (const e of picks(step, 8, rand)) {
        const coords = coordsOf(e, step.output.shape);
        const operands = step.operandTypes.map((t, k) => read(k)[broadcastFlat(coords, step.params[`view${k}`] ?? t.shape)]!);
        const params = step.op === "clip" ? [step.params.min![0]!, step.params.max![0]!] : [];
        vecs.push({ op: mapOpCode(step.op), dtype: DT[step.output.dtype]!, fromFloat: false, operands: operands.map(i64), params: params.map(i64), want: i64(mapElement(step, read, e)), what: `mnist step ${step.index} ${step.op} e ${e}` });
      }
    }
    // Seeded operands at every integer dtype, including wrap-around and a zero divisor; float → int casts.
    const r2 = seededRandom(82);
    const INT_OPS = ["add", "sub", "mul", "div", "max", "min", "neg", "abs", "relu", "clip", "cast", "where", "equal", "less", "greater", "less_equal", "greater_equal", "not", "and", "or", "xor"];
    for (const [dtype, code] of Object.entries(DT)) {
      for (const op of INT_OPS) {
        const arity = op === "where" ? 3 : ["add", "sub", "mul", "div", "max", "min", "equal", "less", "greater", "less_equal", "greater_equal", "and", "or", "xor"].includes(op) ? 2 : 1;
        for (let i = 0; i < 8; i++) {
          const operands = Array.from({ length: arity }, () => (r2() < 0.15 ? 0 : Math.floor((r2() - 0.5) * 2 ** (1 + Math.floor(r2() * 32)))));
          if (BOOL_IN[op] === "all") operands.forEach((_, k) => (operands[k] = r2() < 0.5 ? 0 : 1));
          if (arity === 2 && r2() < 0.25) operands[1] = operands[0]!;
          const params = op === "clip" ? [-100, 1000] : [];
          const t = { dtype: dtype as Step["output"]["dtype"], shape: [1] };
          const step = { ...syntheticStep(op, arity, op === "clip" ? { min: -100, max: 1000 } : {}), operandTypes: Array.from({ length: arity }, () => (op === "cast" ? { dtype: "int32" as const, shape: [1] } : t)), output: t };
          vecs.push({ op: mapOpCode(op), dtype: code, fromFloat: false, operands: operands.map(i64), params: params.map(i64), want: i64(mapElement(step, (k) => [operands[k]!], 0)), what: `${op} ${dtype} (${operands})` });
        }
      }
      for (const v of [0, 1, -7, 300]) {
        const step = { ...syntheticStep("fill", 0, { value: v }), output: { dtype: dtype as Step["output"]["dtype"], shape: [1] } };
        vecs.push({ op: mapOpCode("fill"), dtype: code, fromFloat: false, operands: [], params: [i64(v)], want: i64(mapElement(step, () => [], 0)), what: `fill ${v} ${dtype}` });
      }
      for (const x of [...SPECIAL, 127.9, -128.9, 255.5, -0.7, 4294967295.5, 2147483648, -2147483649, 40000.25]) {
        const step = { ...syntheticStep("cast", 1, {}), output: { dtype: dtype as Step["output"]["dtype"], shape: [1] } };
        vecs.push({ op: mapOpCode("cast"), dtype: code, fromFloat: true, operands: [canonicalBits(x)], params: [], want: i64(mapElement(step, () => [x], 0)), what: `cast float ${x} -> ${dtype}` });
      }
    }
    const buf = Buffer.concat(vecs.map((v) => {
      const b = Buffer.alloc(5 + 8 * (v.operands.length + v.params.length));
      b.writeUInt8(v.op, 0);
      b.writeUInt8(v.dtype, 1);
      b.writeUInt8(v.fromFloat ? 1 : 0, 2);
      b.writeUInt8(v.operands.length, 3);
      b.writeUInt8(v.params.length, 4);
      [...v.operands, ...v.params].forEach((w, k) => b.writeBigUInt64BE(w, 5 + 8 * k));
      return b;
    }));
    const bad: string[] = [];
    const per = 120;
    let at = 0;
    for (let i = 0; i < vecs.length; i += per) {
      const chunk = vecs.slice(i, i + per);
      const len = chunk.reduce((a, v) => a + 5 + 8 * (v.operands.length + v.params.length), 0);
      const res: string = await harness.evalIntMap.staticCall("0x" + buf.subarray(at, at + len).toString("hex"), { gasLimit: 16_000_000n });
      at += len;
      const out = Buffer.from(res.slice(2), "hex");
      chunk.forEach((v, j) => {
        const got = out.readBigUInt64BE(8 * j);
        if (got !== v.want && bad.length < 10) bad.push(`${v.what}: got ${hex64(got)} want ${hex64(v.want)}`);
      });
    }
    expect(bad).toEqual([]);
    expect(vecs.length).toBeGreaterThan(500);
  }, 60_000);

  it("test_quantizeAndRequantize_seededAndSpecialOperands_matchElementTs", async () => {
    const rand = seededRandom(91);
    const DT: Record<string, number> = { uint8: 2, int8: 3 };
    const ties = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 127.5, -128.5, 255.5, 254.5, -0.49999997, 0.49999997];
    const vecs: { op: number; dtype: number; a: number; b: number; zp: number; want: bigint; what: string }[] = [];
    for (const op of ["quantize", "requantize"] as const) {
      for (const [dtype, code] of Object.entries(DT)) {
        const [lo, hi] = dtype === "uint8" ? [0, 255] : [-128, 127];
        for (let i = 0; i < 120; i++) {
          const r = rand();
          const zp = r < 0.3 ? 0 : Math.floor(lo + rand() * (hi - lo + 1));
          let a: number;
          let b: number;
          if (op === "quantize") {
            a = r < 0.15 ? SPECIAL[Math.floor(rand() * SPECIAL.length)]! : r < 0.45 ? ties[Math.floor(rand() * ties.length)]! : Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 20 - 6));
            b = rand() < 0.3 ? 1 : rand() < 0.1 ? SPECIAL[Math.floor(rand() * SPECIAL.length)]! : Math.fround(2 ** Math.floor(rand() * 12 - 8) * (1 + rand()));
          } else {
            a = r < 0.1 ? [2147483647, -2147483648, 16777217, -16777219, 0][Math.floor(rand() * 5)]! : Math.floor((rand() - 0.5) * 2 ** Math.floor(rand() * 31));
            b = rand() < 0.1 ? SPECIAL[Math.floor(rand() * SPECIAL.length)]! : rand() < 0.2 ? 0.5 : Math.fround(2 ** Math.floor(rand() * 20 - 24) * (1 + rand()));
          }
          const t = { dtype: dtype as Step["output"]["dtype"], shape: [1] };
          const step = { ...syntheticStep(op, 3, {}), output: t };
          const want = BigInt(mapElement(step, (k) => [[a, b, zp][k]!], 0)) & MASK64;
          vecs.push({ op: mapOpCode(op), dtype: code, a, b, zp, want, what: `${op} ${dtype} (${a}, ${b}, ${zp})` });
        }
      }
    }
    const bad: string[] = [];
    for (let i = 0; i < vecs.length; i += 100) {
      const chunk = vecs.slice(i, i + 100);
      const buf = Buffer.concat(chunk.map((v) => {
        const b = Buffer.alloc(26);
        b.writeUInt8(v.op, 0);
        b.writeUInt8(v.dtype, 1);
        b.writeBigUInt64BE(canonicalBits(v.a), 2);
        b.writeBigUInt64BE(canonicalBits(v.b), 10);
        b.writeBigUInt64BE(BigInt(v.zp) & MASK64, 18);
        return b;
      }));
      const res: string = await harness.evalQuant.staticCall("0x" + buf.toString("hex"), { gasLimit: 16_000_000n });
      const out = Buffer.from(res.slice(2), "hex");
      chunk.forEach((v, j) => {
        const got = out.readBigUInt64BE(8 * j);
        if (got !== v.want && bad.length < 10) bad.push(`${v.what}: got ${hex64(got)} want ${hex64(v.want)}`);
      });
    }
    expect(bad).toEqual([]);
    // Ties round to even; saturation and NaN (the zero point).
    const q = (a: number, b: number, zp: number, dtype: "uint8" | "int8") => mapElement({ ...syntheticStep("quantize", 3, {}), output: { dtype, shape: [1] } }, (k) => [[a, b, zp][k]!], 0);
    expect([q(2.5, 1, 0, "int8"), q(-2.5, 1, 0, "int8"), q(3.5, 1, 0, "int8"), q(1000, 1, 0, "int8"), q(-Infinity, 1, 10, "uint8"), q(NaN, 1, 7, "uint8")]).toEqual([2, -2, 4, 127, 0, 7]);
  }, 60_000);

  it("test_coverageProgramsMapSteps_everyElementRouted_matchElementTs", async () => {
    // Real lowered programs of the issue 14 operators: every element of every map step, through the
    // CanonicalStep function a verifier routes it to: quantize/requantize → quantElement; a float → int
    // cast → castToInt; a float output or a float operand → mapElement; else → mapIntElement.
    const fl = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: seededValues(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
    const n = (op: string, inputs: string[], outputs: string[], attrs?: NodeSpec["attrs"]): NodeSpec => ({ op, inputs, outputs, attrs });
    const models: { dtype?: "float32" | "int32" | "uint8"; shape: number[]; nodes: NodeSpec[]; inits?: InitSpec[]; opset?: number }[] = [
      { shape: [2, 3, 4], nodes: [n("Greater", ["x", "c"], ["m"]), n("Where", ["m", "x", "d"], ["y"])], inits: [fl("c", [4], 1), fl("d", [3, 1], 2)] },
      { shape: [2, 3, 4], nodes: [n("Greater", ["x", "z"], ["a"]), n("Less", ["x", "h"], ["b"]), n("And", ["a", "b"], ["ab"]), n("Not", ["a"], ["na"]), n("Or", ["ab", "na"], ["o"]), n("Xor", ["o", "b"], ["e"]), n("Equal", ["e", "a"], ["y"])], inits: [fl("z", [1], 3), fl("h", [4], 4)] },
      { shape: [2, 3, 4], nodes: [n("PRelu", ["x", "s"], ["p"]), n("Cast", ["p"], ["b"], { to: { i: 9 } }), n("Cast", ["b"], ["q"], { to: { i: 1 } }), n("Shape", ["x"], ["sh"]), n("ConstantOfShape", ["sh"], ["c"], { value: { t: { name: "v", dtype: "float32", shape: [1], values: [0.75] } } }), n("Mul", ["q", "c"], ["y"])], inits: [fl("s", [3, 1], 5)] },
      { shape: [2, 3, 4], nodes: [n("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), n("DequantizeLinear", ["q", "s", "z"], ["y"])] },
      { shape: [2, 3, 4], nodes: [n("QuantizeLinear", ["x", "s", "z"], ["q"], { axis: { i: 1 } }), n("DequantizeLinear", ["q", "s", "z"], ["y"], { axis: { i: 1 } })], inits: [fl("s", [3], 6, 0.005, 0.02), { name: "z", dtype: "int8", shape: [3], values: [-5, 0, 9] }] },
      { dtype: "uint8", shape: [3, 6], nodes: [n("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [fl("sa", [], 7, 0.01, 0.02), { name: "za", dtype: "uint8", shape: [], values: [128] }, { name: "w", dtype: "int8", shape: [6, 4], values: seededValues(24, 8, -128, 128).map(Math.floor) }, fl("sw", [4], 9, 0.01, 0.03), { name: "zw", dtype: "int8", shape: [4], values: [0, 0, 0, 0] }, fl("sy", [], 10, 0.02, 0.05), { name: "zy", dtype: "uint8", shape: [], values: [100] }] },
      { dtype: "int32", shape: [2, 3, 4], nodes: [n("Less", ["x", "k"], ["m"]), n("Where", ["m", "x", "v"], ["w"]), n("Cast", ["w"], ["y"], { to: { i: 3 } })], inits: [{ name: "k", dtype: "int32", shape: [1], values: [0] }, { name: "v", dtype: "int32", shape: [4], values: [7, -7, 1000, -1000] }] },
    ];
    const DT: Record<string, number> = { uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, bool: 9, uint32: 12 };
    const floatVecs: MapVec[] = [];
    const intBufs: Buffer[] = [];
    const intWant: { want: bigint; what: string }[] = [];
    const quantBufs: Buffer[] = [];
    const quantWant: { want: bigint; what: string }[] = [];
    const ops = new Set<string>();
    const specials = [0, -0, NaN, Infinity, -Infinity, 1e-40, 3e38, -3e38, 0.5, -2.5];
    for (const [mi, m] of models.entries()) {
      const prog = lowerModel(buildModel({ input: { name: "x", shape: m.shape, dtype: m.dtype }, output: "y", nodes: m.nodes, initializers: m.inits, opset: m.opset }));
      const count = m.shape.reduce((a, b) => a * b, 1);
      const raw = seededValues(count, 100 + mi, -3, 3);
      const input: Tensor = m.dtype === "uint8" ? { dtype: "uint8", shape: m.shape, data: Uint8Array.from(seededValues(count, 100 + mi, 0, 256), Math.floor) }
        : m.dtype === "int32" ? { dtype: "int32", shape: m.shape, data: Int32Array.from(raw, (v) => Math.round(v * 300)) }
        : { dtype: "float32", shape: m.shape, data: Float32Array.from(raw, (v, i) => (i % 5 === 0 ? specials[(i / 5) % specials.length]! : v)) };
      for (const precision of ["fp32", "fp16"] as const) {
        const { trace } = runProgram(prog, input, { precision });
        for (const step of prog.steps) {
          if (step.kind !== "map") continue;
          const read = (k: number) => {
            const o = step.operands[k]!;
            return (o.source === "input" ? input.data : o.source === "weight" ? prog.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
          };
          ops.add(step.op);
          const total = step.output.shape.reduce((a, b) => a * b, 1);
          for (let e = 0; e < total; e++) {
            const coords = coordsOf(e, step.output.shape);
            const operands = step.operandTypes.map((t, k) => read(k)[broadcastFlat(coords, step.params[`view${k}`] ?? t.shape)]!);
            const got = mapElement(step, read, e, precision);
            expect(Object.is(got, (trace[step.index]!.data as ArrayLike<number>)[e]) || (got !== got)).toBe(true);
            const what = `model ${mi} ${precision} step ${step.index} ${step.op} e ${e} (${operands})`;
            const floatIn = step.operandTypes.some((t) => t.dtype === "float32");
            if (step.op === "quantize" || step.op === "requantize") {
              const b = Buffer.alloc(26);
              b.writeUInt8(mapOpCode(step.op), 0);
              b.writeUInt8(DT[step.output.dtype]!, 1);
              b.writeBigUInt64BE(canonicalBits(operands[0]!), 2);
              b.writeBigUInt64BE(canonicalBits(operands[1]!), 10);
              b.writeBigUInt64BE(BigInt(operands[2] ?? 0) & MASK64, 18);
              quantBufs.push(b);
              quantWant.push({ want: BigInt(got) & MASK64, what });
            } else if (step.output.dtype === "float32" || floatIn) {
              if (step.op === "cast" && step.output.dtype !== "float32") continue; // castToInt: checked elsewhere
              floatVecs.push({ op: mapOpCode(step.op), precision: precisionCode(precision), operands, params: mapParamsOf(step), want: canonicalBits(got), what });
            } else {
              const params = step.op === "fill" ? [step.params.value![0]!] : step.op === "clip" ? [step.params.min![0]!, step.params.max![0]!] : [];
              const b = Buffer.alloc(5 + 8 * (operands.length + params.length));
              b.writeUInt8(mapOpCode(step.op), 0);
              b.writeUInt8(DT[step.output.dtype]!, 1);
              b.writeUInt8(0, 2);
              b.writeUInt8(operands.length, 3);
              b.writeUInt8(params.length, 4);
              [...operands, ...params].forEach((w, k) => b.writeBigUInt64BE(BigInt(w) & MASK64, 5 + 8 * k));
              intBufs.push(b);
              intWant.push({ want: BigInt(got) & MASK64, what });
            }
          }
        }
      }
    }
    for (const op of ["where", "greater", "less", "and", "not", "or", "xor", "equal", "prelu", "fill", "dql_scale", "quantize", "dequantize", "qscale", "requantize"]) expect(ops.has(op)).toBe(true);
    await checkMaps(floatVecs);
    const bad: string[] = [];
    for (const [bufs, wants, fn] of [[intBufs, intWant, "evalIntMap"], [quantBufs, quantWant, "evalQuant"]] as const) {
      for (let i = 0; i < bufs.length; i += 100) {
        const res: string = await harness[fn].staticCall("0x" + Buffer.concat(bufs.slice(i, i + 100)).toString("hex"), { gasLimit: 16_000_000n });
        const out = Buffer.from(res.slice(2), "hex");
        wants.slice(i, i + 100).forEach((w, j) => {
          const g = out.readBigUInt64BE(8 * j);
          if (g !== w.want && bad.length < 10) bad.push(`${w.what}: got ${hex64(g)} want ${hex64(w.want)}`);
        });
      }
    }
    expect(bad).toEqual([]);
    expect(floatVecs.length + intWant.length + quantWant.length).toBeGreaterThan(1000);
  }, 120_000);

  it("test_coverageProgramsReduceSteps_conv3dPool3dConvTranspose3dIntegerConv_everyFold_matchElementTs", async () => {
    const fl = (name: string, shape: number[], seed: number): InitSpec => ({ name, dtype: "float32", shape, values: seededValues(shape.reduce((a, b) => a * b, 1), seed, -1, 1) });
    const models: { dtype?: "uint8"; shape: number[]; nodes: NodeSpec[]; inits?: InitSpec[] }[] = [
      { shape: [1, 2, 4, 5, 5], nodes: [{ op: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], attrs: { pads: { ints: [1, 0, 1, 1, 1, 0] }, strides: { ints: [1, 2, 1] } } }, { op: "MaxPool", inputs: ["c"], outputs: ["m"], attrs: { kernel_shape: { ints: [2, 2, 2] }, ceil_mode: { i: 1 }, strides: { ints: [2, 2, 2] } } }, { op: "AveragePool", inputs: ["m"], outputs: ["y"], attrs: { kernel_shape: { ints: [1, 2, 2] }, pads: { ints: [0, 1, 1, 0, 0, 0] } } }], inits: [fl("w", [3, 2, 2, 3, 2], 1), fl("b", [3], 2)] },
      { dtype: "uint8", shape: [1, 2, 5, 5], nodes: [{ op: "QLinearConv", inputs: ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], outputs: ["y"], attrs: { pads: { ints: [1, 1, 1, 1] } } }], inits: [fl("sx", [], 3), { name: "zx", dtype: "uint8", shape: [], values: [128] }, { name: "w", dtype: "int8", shape: [3, 2, 3, 3], values: seededValues(54, 4, -128, 128).map(Math.floor) }, fl("sw", [3], 5), { name: "zw", dtype: "int8", shape: [3], values: [0, 0, 0] }, fl("sy", [], 6), { name: "zy", dtype: "uint8", shape: [], values: [3] }, { name: "b", dtype: "int32", shape: [3], values: [-100000, 7, 2147483000] }] },
      { shape: [1, 4, 2, 3, 3], nodes: [{ op: "ConvTranspose", inputs: ["x", "w", "b"], outputs: ["y"], attrs: { strides: { ints: [2, 1, 2] }, pads: { ints: [1, 0, 1, 0, 1, 0] }, output_padding: { ints: [1, 0, 1] }, group: { i: 2 } } }], inits: [fl("w", [4, 2, 2, 3, 2], 9), fl("b", [4], 10)] },
    ];
    const rand = seededRandom(93);
    const c: FoldCheck = { records: [], terms: [], next: [], finals: [], inits: [] };
    const ops = new Set<string>();
    for (const [mi, m] of models.entries()) {
      const prog = lowerModel(buildModel({ input: { name: "x", shape: m.shape, dtype: m.dtype }, output: "y", nodes: m.nodes, initializers: m.inits }));
      const count = m.shape.reduce((a, b) => a * b, 1);
      const input: Tensor = m.dtype === "uint8" ? { dtype: "uint8", shape: m.shape, data: Uint8Array.from(seededValues(count, 7, 0, 256), Math.floor) } : { dtype: "float32", shape: m.shape, data: Float32Array.from(seededValues(count, 8, -2, 2), (v, i) => (i % 7 === 0 ? [NaN, -0, Infinity, 1e-40][(i / 7) % 4]! : v)) };
      for (const precision of ["fp32", "bf16"] as const) {
        const { trace } = runProgram(prog, input, { precision });
        for (const step of prog.steps) {
          if (step.kind !== "reduce") continue;
          ops.add(step.op);
          const read = (k: number) => {
            const o = step.operands[k]!;
            return (o.source === "input" ? input.data : o.source === "weight" ? prog.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
          };
          const integer = step.output.dtype !== "float32";
          for (const e of picks(step, 12, rand)) {
            const r = reduceTerms(step, read, e, precision);
            const kind = partialKindOf(r, integer);
            const states = partialStates(r, integer);
            const recs = states.map((st) => hexOf(encodePartial(st)));
            for (let t = 0; t < r.terms.length; t++) {
              c.records.push(recs[t]!);
              c.terms.push(wordOf(kind, r.terms[t]!));
              c.next.push(recs[t + 1]!);
            }
            c.inits.push({ kind: PARTIAL_KINDS[kind], count: r.count, init: wordOf(kind, r.init), want: recs[0]! });
            const fin = finalizeReduce(step, r, states.at(-1)!.acc, precision);
            expect(Object.is(fin, (trace[step.index]!.data as ArrayLike<number>)[e]) || (fin !== fin && (trace[step.index]!.data as ArrayLike<number>)[e] !== (trace[step.index]!.data as ArrayLike<number>)[e])).toBe(true);
            c.finals.push({ record: recs.at(-1)!, precision: precisionCode(precision), want: wordOf(kind, fin), what: `model ${mi} ${precision} step ${step.index} ${step.op} e ${e}` });
          }
        }
      }
    }
    for (const op of ["conv3d", "pool3d", "conv", "convtranspose3d"]) expect(ops.has(op)).toBe(true);
    expect(await checkFolds(c)).toBeGreaterThan(1000);
  }, 120_000);

  it("test_integerSumAndMalformedRecords", async () => {
    // int32 sums wrap as element.ts's `(s + v) | 0`.
    const r = { init: 2147483000, terms: Float64Array.from([1000, -5, -4294967296 + 7, 127 * 127, -128 * 127]), count: 1, max: false };
    const states = partialStates(r, true);
    const recs = states.map((s) => hexOf(encodePartial(s)));
    const got: string[] = await harness.evalFold.staticCall(recs.slice(0, -1), Array.from(r.terms, (t) => wordOf("isum", t)));
    expect(got).toEqual(recs.slice(1));
    expect(await harness.evalFinalize.staticCall([recs.at(-1)], [0])).toEqual([wordOf("isum", states.at(-1)!.acc)]);
    // A record with a wrong version, kind, zero divisor or a non-canonical NaN is refused.
    const good = encodePartial({ kind: "sum", count: 1, t: 3, acc: 1.5 });
    for (const [at, v] of [[0, 2], [1, 3], [7, 0], [2, 1], [13, 1], [31, 1]] as const) {
      const bad = Uint8Array.from(good);
      bad[at] = v;
      if (at === 7) bad[4] = bad[5] = bad[6] = 0;
      await expect(harness.evalFold.staticCall([hexOf(bad)], [0n])).rejects.toThrow();
    }
    const nan = Buffer.from(good);
    nan.writeBigUInt64BE(0x7ff8000000000001n, 16);
    await expect(harness.evalFold.staticCall([hexOf(nan)], [0n])).rejects.toThrow();
    // A map op with the wrong operand count names the op.
    await expect(harness.evalMap.staticCall(packMaps([{ op: mapOpCode("add"), precision: 0, operands: [1], params: [], want: 0n, what: "" }]))).rejects.toThrow(/CanonicalStepUnsupportedMap|reverted/);
  }, 60_000);
});