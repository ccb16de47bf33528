/**
 * The CLI on a model with several named inputs and outputs (issue 14), against `oracle dev`:
 * `oracle model register` reads every input and output of the ONNX file (refuses OPTIMISTIC for the
 * VAD model, whose GRU has no canonical definition, and ZK for any such model, with the reasons; offers
 * OPTIMISTIC for a 2-in / 2-out cell every node of which lowers), `oracle request --input name=file` (repeated) sends them as one bundle, and the
 * output is printed per name: the same numbers onnxruntime computes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastJson, oracle, start, type LongRunning } from "./helpers.js";
import { frame, VAD_FILE, VAD_HASH } from "../worker/vad-fixtures.js";
import { multiIoModelFile } from "../canonical/multi-io-model.js";

interface Ready {
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle CLI: several named inputs and outputs", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const key = (role: string) => ready.accounts.find((a) => a.role === role)!.privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-io-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev")]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment };
  }, 240_000);
  afterAll(async () => {
    await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
  });

  it("test_check_severalInputs_optimisticRefusedPerNode_zkRefusedWithTheReason", async () => {
    const [r, inspect] = await Promise.all([oracle(["model", "check", VAD_FILE, "--json"]), oracle(["model", "inspect", VAD_FILE])]);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson<{ verdicts: Record<"NONE" | "OPTIMISTIC" | "ZK", { allowed: boolean; reasons: string[] }> }>(r);
    expect(report.verdicts.NONE).toEqual({ allowed: true, reasons: ["onnxruntime-node runs it at [1,64], state [1,1,8], sr []"] });
    // OPTIMISTIC: judged per node like any model (issue 14: a dispute proves bundle members); the int64 Cast and the GRU behind it refuse it.
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(report.verdicts.OPTIMISTIC.reasons[0]).toMatch(/nodes are not disputable: Cast ×1 \(Cast \(node #0 Cast -> srf\): dtype int64 is not supported\)/);
    expect(report.verdicts.ZK.allowed).toBe(false);
    expect(report.verdicts.ZK.reasons[0]).toBe("the model has 3 inputs (input, state, sr) and 2 outputs (output, stateN): a ZK proof checks one input tensor and one output, so such a model is served in NONE and OPTIMISTIC only");
    expect(inspect.stdout).toMatch(/inputs\s+input: float32\[1,64\]\n\s+state: float32\[1,1,8\]\n\s+sr: int64\[\]\noutputs\s+output: float32\[1,1\]\n\s+stateN: float32\[1,1,8\]/);
  }, 120_000);

  it("test_register_readsEveryInputAndOutput_refusesOptimisticAndZkWithTheReasons", async () => {
    // Both refusals come before anything is sent: side by side.
    const [refused, zk] = await Promise.all([
      oracle(["model", "register", VAD_FILE, "--tiers", "none,optimistic", "--key", key("modelOwner")], env),
      oracle(["model", "register", VAD_FILE, "--tiers", "none,zk", "--key", key("modelOwner")], env),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/MODEL_NOT_DISPUTABLE.*cannot be offered in the OPTIMISTIC tier: .*Cast ×1/);
    expect(zk.code).toBe(1);
    expect(zk.stderr).toMatch(/MODEL_NOT_DISPUTABLE.*has 3 inputs and 2 outputs: a model with several is served in the NONE and OPTIMISTIC tiers/);
    const r = await oracle(["model", "register", VAD_FILE, "--tiers", "none", "--fee", "0", "--json", "--key", key("modelOwner")], env);
    expect(r.code, r.stderr).toBe(0);
    const m = lastJson<{ modelHash: string; tiers: string[]; inputs: Array<{ name: string; dtype: string; shape: number[] }>; outputs: Array<{ name: string; dtype: string; shape: number[] }> }>(r);
    expect(m.modelHash).toBe(VAD_HASH);
    expect(m.tiers).toEqual(["NONE"]);
    expect(m.inputs).toEqual([
      { name: "input", dtype: "float32", shape: [1, 64] },
      { name: "sr", dtype: "int64", shape: [] },
      { name: "state", dtype: "float32", shape: [1, 1, 8] },
    ]);
    expect(m.outputs).toEqual([
      { name: "output", dtype: "float32", shape: [1, 1] },
      { name: "stateN", dtype: "float32", shape: [1, 1, 8] },
    ]);
    const list = await oracle(["model", "list"], env);
    expect(list.stdout).toContain(`${VAD_HASH}  input:float32[1,64] sr:int64[] state:float32[1,1,8] -> output:float32[1,1] stateN:float32[1,1,8]`);
    const human = await oracle(["model", "register", VAD_FILE, "--tiers", "none", "--fee", "0", "--update", "--key", key("modelOwner")], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/inputs\s+input: float32\[1,64\]\n\s+sr: int64\[\]\n\s+state: float32\[1,1,8\]\noutputs\s+output: float32\[1,1\]\n\s+stateN: float32\[1,1,8\]/);
  }, 120_000);

  it("test_register_multiIoCell_optimisticAllowed_canonicalTermsSet", async () => {
    // Every node of the 2-in / 2-out cell lowers and verifies on-chain: OPTIMISTIC is offered (issue 14).
    const { file, modelHash } = multiIoModelFile();
    const r = await oracle(["model", "register", file, "--tiers", "none,optimistic", "--fee", "0", "--inputs", "2", "--json", "--key", key("modelOwner")], env);
    expect(r.code, r.stderr).toBe(0);
    const m = lastJson<{ modelHash: string; tiers: string[]; canonicalTerms: { stepCount: number } | null }>(r);
    expect(m.modelHash).toBe(modelHash);
    expect(m.tiers).toEqual(["NONE", "OPTIMISTIC"]);
    expect(m.canonicalTerms?.stepCount).toBe(11);
  }, 180_000);

  it("test_request_inputPerName_outputPrintedPerName_equalsOnnxruntime", async () => {
    const f = frame(3);
    const state = Array.from({ length: 8 }, (_, k) => (k - 4) / 8);
    writeFileSync(join(dir, "frame.json"), JSON.stringify([Array.from(f.data as Float32Array)]));
    writeFileSync(join(dir, "state.json"), JSON.stringify([[state]]));
    writeFileSync(join(dir, "sr.json"), "16000");
    const args = ["request", "--model", VAD_HASH, "--input", `input=${join(dir, "frame.json")}`, "--input", `sr=${join(dir, "sr.json")}`, "--input", `state=${join(dir, "state.json")}`, "--wait", "--key", key("user")];
    // A file without its input's name, or a name the model does not have: refused before anything is sent
    // (run beside the first request, as the user's transactions go one at a time).
    const refusals = Promise.all([
      oracle(["request", "--model", VAD_HASH, "--input", join(dir, "frame.json"), "--key", key("user")], env),
      oracle(["request", "--model", VAD_HASH, "--input", `input=${join(dir, "frame.json")}`, "--input", `rate=${join(dir, "sr.json")}`, "--input", `state=${join(dir, "state.json")}`, "--key", key("user")], env),
    ]);
    const r = await oracle([...args, "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ outcome: { stage: string }; outputs: Record<string, { dtype: string; shape: number[]; values: number[] }> }>(r);
    expect(out.outcome.stage).toBe("final");
    const session = await ort.InferenceSession.create(VAD_FILE);
    const ref = await session.run({ input: new ort.Tensor("float32", f.data as Float32Array, [1, 64]), sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []), state: new ort.Tensor("float32", Float32Array.from(state), [1, 1, 8]) });
    expect(Object.keys(out.outputs)).toEqual(["output", "stateN"]);
    expect(out.outputs.output).toMatchObject({ dtype: "float32", shape: [1, 1], values: Array.from(ref.output!.data as Float32Array) });
    expect(out.outputs.stateN).toMatchObject({ dtype: "float32", shape: [1, 1, 8], values: Array.from(ref.stateN!.data as Float32Array) });
    // The human form: one line per output name.
    const human = await oracle(args, env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^output\s+float32\[1,1\] = \[/m);
    expect(human.stdout).toMatch(/^stateN\s+float32\[1,1,8\] = \[/m);
    const [unnamed, misnamed] = await refusals;
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toMatch(/takes 3 inputs \(input, sr, state\): give each as --input name=file/);
    expect(misnamed.code).toBe(1);
    expect(misnamed.stderr).toMatch(/the model has no input "rate" \(its inputs are input, sr, state\)/);
  }, 180_000);
});
