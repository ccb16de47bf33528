import { readFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { createRequire } from "node:module";
import type { onnx as OnnxNs } from "onnx-proto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  MNIST_MANIFEST_FILE, MNIST_MODEL_FILE, ZkCompileError, argmax, buildCircuit, buildMnistModelFiles, denseForward, compileOnnxToCircom,
  failingConstraints, loadMnist7x7, loadWitnessCalculator, packInt8Words, readR1cs, readSymbols, referenceForward,
  sha256Hex, unpackInt8Words, type CircuitBuild, type CompileResult, type ModelManifest, type QuantizedMlp, type R1cs,
  type WitnessCalculator,
} from "../../circuits/index.js";
import { encodeTensor } from "../../protocol/index.js";
import { REPO, constraintsByWire, randInt, rng, satisfiesSubset } from "./helpers.js";

const { onnx } = createRequire(import.meta.url)("onnx-proto") as { onnx: typeof OnnxNs };

const modelBytes = readFileSync(join(REPO, "models", MNIST_MODEL_FILE));
const manifest = JSON.parse(readFileSync(join(REPO, "models", MNIST_MANIFEST_FILE), "utf8")) as ModelManifest;

describe("ZK demo model: mnist 7x7 int8 MLP", () => {
  let model: QuantizedMlp;
  let session: ort.InferenceSession;
  let compiled: CompileResult;
  let build: CircuitBuild;
  let r1cs: R1cs;
  let wc: WitnessCalculator;

  beforeAll(async () => {
    compiled = compileOnnxToCircom(modelBytes);
    const started = performance.now();
    build = await buildCircuit("mnist_mlp", compiled.circom);
    console.log(`[zk] circuit ${build.cached ? "from cache" : "compiled"} in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `${build.nonLinearConstraints} non-linear + ${build.linearConstraints} linear constraints`);
    r1cs = readR1cs(build.r1csPath);
    wc = await loadWitnessCalculator(build);
    session = await ort.InferenceSession.create(modelBytes);
    model = buildMnistModelFiles().model;
  });

  async function runOrt(x: Int8Array): Promise<Int8Array> {
    const out = await session.run({ [compiled.inputName]: new ort.Tensor("int8", x, compiled.inputShape) });
    return out[compiled.outputName]?.data as Int8Array;
  }

  it("training regenerates the committed model and manifest byte for byte", () => {
    const files = buildMnistModelFiles();
    expect(Buffer.from(files.onnx).equals(modelBytes)).toBe(true);
    expect(Buffer.from(files.files[MNIST_MANIFEST_FILE] as Uint8Array).toString()).toBe(readFileSync(join(REPO, "models", MNIST_MANIFEST_FILE), "utf8"));
    expect(manifest.modelHash).toBe(sha256Hex(modelBytes));
  });

  it("classifies held-out digits under onnxruntime with the accuracy the manifest reports", async () => {
    const { test } = loadMnist7x7();
    let correct = 0;
    for (const s of test) {
      const y = await runOrt(s.pixels);
      expect(Array.from(y)).toEqual(Array.from(referenceForward(model, s.pixels)));
      if (argmax(y) === s.label) correct++;
    }
    expect(correct / test.length).toBeCloseTo(manifest.quantizedTestAccuracy, 4);
    expect(manifest.quantizedTestAccuracy).toBeGreaterThan(0.9);
  });

  it("onnxruntime, the integer reference and the circuit agree on 1,105 inputs, extremes included", async () => {
    const n = 49;
    const rand = rng(42);
    const inputs: Int8Array[] = [
      new Int8Array(n).fill(-128),
      new Int8Array(n).fill(127),
      new Int8Array(n),
      Int8Array.from({ length: n }, (_, i) => (i % 2 ? 127 : -128)),
      Int8Array.from({ length: n }, (_, i) => (i % 2 ? -128 : 127)),
      ...loadMnist7x7().test.slice(0, 500).map((s) => s.pixels),
      ...Array.from({ length: 600 }, () => Int8Array.from({ length: n }, () => randInt(rand, -128, 127))),
    ];
    let agreed = 0;
    for (const [i, x] of inputs.entries()) {
      const expected = Array.from(referenceForward(model, x));
      expect(Array.from(await runOrt(x)), `ORT, input ${i}`).toEqual(expected);
      const w = await wc.calculate({ inputWords: packInt8Words(x) });
      // Wire 0 is the constant 1, then public outputs, then public inputs (see the compiled header).
      const outWords = w.slice(1, 1 + compiled.outputWords);
      expect(Array.from(unpackInt8Words(outWords, expected.length)), `circuit, input ${i}`).toEqual(expected);
      expect(outWords).toEqual(packInt8Words(expected));
      expect(w.slice(1 + compiled.outputWords, 1 + compiled.outputWords + compiled.inputWords)).toEqual(packInt8Words(x));
      if (i < 10) expect(failingConstraints(r1cs, w)).toEqual([]);
      agreed++;
    }
    expect(agreed).toBe(1105);
  });

  it("public signals are the canonical tensors' data bytes, 31 per word, big-endian", async () => {
    // What the on-chain adapter will do: take the canonical tensor's data bytes (the part its
    // tensor hash commits to) and load each 31-byte slice as a big-endian integer.
    const words = (bytes: Buffer) => {
      const out: bigint[] = [];
      for (let o = 0; o < bytes.length; o += 31) out.push(BigInt(`0x${bytes.subarray(o, o + 31).toString("hex")}`));
      return out;
    };
    const dataOf = (shape: number[], data: Int8Array) => encodeTensor({ dtype: "int8", shape, data }).subarray(8 + 4 * shape.length);
    for (const x of [loadMnist7x7().test[3]?.pixels as Int8Array, new Int8Array(49).fill(-128), Int8Array.from({ length: 49 }, (_, i) => i * 5 - 120)]) {
      const w = await wc.calculate({ inputWords: packInt8Words(x) });
      const y = referenceForward(model, x);
      expect(w.slice(1, 1 + compiled.outputWords)).toEqual(words(dataOf(compiled.outputShape, y)));
      expect(w.slice(1 + compiled.outputWords, 1 + compiled.outputWords + compiled.inputWords)).toEqual(words(dataOf(compiled.inputShape, x)));
    }
  });

  it("compiles the same model to byte-identical circom", () => {
    const again = compileOnnxToCircom(Uint8Array.from(modelBytes));
    expect(again.circom).toBe(compiled.circom);
    expect(compiled.circom).toContain(manifest.modelHash);
  });

  it("soundness: changing any single wire of an honest witness violates a constraint", async () => {
    const x = loadMnist7x7().test[0]?.pixels as Int8Array;
    const honest = await wc.calculate({ inputWords: packInt8Words(x) });
    const byWire = constraintsByWire(r1cs);
    const free: number[] = [];
    for (let wire = 1; wire < honest.length; wire++) {
      const w = honest.slice();
      w[wire] = ((w[wire] as bigint) + 1n) % r1cs.prime;
      if (satisfiesSubset(r1cs, w, byWire.get(wire) ?? [])) free.push(wire);
    }
    expect(free).toEqual([]);
  });

  it("soundness: a wrong hidden-layer rounding or a wrong output is rejected", async () => {
    const x = loadMnist7x7().test[1]?.pixels as Int8Array;
    const honest = await wc.calculate({ inputWords: packInt8Words(x) });
    const sym = readSymbols(build);
    // Round an active hidden neuron down by one: every kept quotient bit becomes a bit of q - 1,
    // the remainder bits stay (r + 2^s has the same low bits, so this is the best a cheater can do).
    const layer = model.layers[0] as QuantizedMlp["layers"][number];
    const { acc } = denseForward(layer, x);
    const q = Array.from(acc, (a) => Math.floor((a * layer.multiplier + 2 ** (layer.shift - 1)) / 2 ** layer.shift));
    const neuron = q.findIndex((v) => v >= 1);
    expect(neuron).toBeGreaterThanOrEqual(0);
    const w = honest.slice();
    let changed = 0;
    for (let k = 0; k < 32; k++) {
      const i = sym.get(`main.c_l0_shifted.quotientRange[${neuron}].out[${k}]`);
      if (i === undefined) continue;
      const bit = BigInt((((q[neuron] as number) - 1) >> k) & 1);
      if (w[i] !== bit) changed++;
      w[i] = bit;
    }
    expect(changed).toBeGreaterThan(0);
    expect(failingConstraints(r1cs, w).length).toBeGreaterThan(0);
    // Claim a different output: flip the lowest byte of the public output word.
    const forged = honest.slice();
    forged[1] = (forged[1] as bigint) ^ 1n;
    expect(failingConstraints(r1cs, forged).length).toBeGreaterThan(0);
  });

  describe("the compiler refuses graphs it cannot prove faithfully", () => {
    function edited(edit: (m: OnnxNs.ModelProto) => void): Uint8Array {
      const m = onnx.ModelProto.decode(modelBytes);
      edit(m);
      return onnx.ModelProto.encode(m).finish();
    }
    const setInt32 = (m: OnnxNs.ModelProto, name: string, v: number) => {
      const t = m.graph?.initializer?.find((i) => i.name === name);
      if (!t) throw new Error(name);
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      t.rawData = b;
    };

    it("a Div whose numerator may be negative (ONNX truncates, floor would differ)", () => {
      const bad = edited((m) => setInt32(m, "l1.rounding", 1 << 14));
      expect(() => compileOnnxToCircom(bad)).toThrow(/numerator may be negative/);
    });
    it("an int32 value that could overflow (ORT would wrap)", () => {
      const bad = edited((m) => setInt32(m, "l0.multiplier", 1 << 20));
      expect(() => compileOnnxToCircom(bad)).toThrow(ZkCompileError);
      expect(() => compileOnnxToCircom(bad)).toThrow(/overflow/);
    });
    it("an operator outside the integer set", () => {
      const bad = edited((m) => { const n = m.graph?.node?.find((x) => x.opType === "Relu"); if (n) n.opType = "Sigmoid"; });
      expect(() => compileOnnxToCircom(bad)).toThrow(/Sigmoid/);
    });
    it("a divisor that is not a power of two", () => {
      const bad = edited((m) => setInt32(m, "l0.divisor", 3000));
      expect(() => compileOnnxToCircom(bad)).toThrow(/power of two/);
    });
  });
});
