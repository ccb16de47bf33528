/**
 * `oracle chain` against `oracle dev` (issue 18, chained requests): the MNIST preprocessing model
 * (scripts/chain-models.ts) is registered with `oracle model register`, ChainedInference deployed with
 * `oracle chain deploy`, and `oracle chain request --models pre,mnist-mlp --wait` sends a picture through
 * both models in one request, advancing the chain when step 1 is delivered: the chain's result is the
 * MLP's output on the preprocessing's output as onnxruntime computes them here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeTensor, hashEncoded } from "../../protocol/index.js";
import { writeMnistPreprocess } from "../../scripts/chain-models.js";
import { lastJson, oracle, start, ROOT, type LongRunning } from "./helpers.js";

interface Ready {
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle CLI: chained requests", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const key = (role: string) => ready.accounts.find((a) => a.role === role)!.privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-chain-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev")]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment };
  }, 240_000);
  afterAll(async () => {
    await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
  });

  it("test_chainRequest_preprocessThenMnist_waitAdvancesToTheResult", async () => {
    const pre = writeMnistPreprocess(dir);
    const reg = await oracle(["model", "register", pre.path, "--tiers", "none", "--fee", "0", "--json", "--key", key("modelOwner")], env);
    expect(reg.code, reg.stderr).toBe(0);
    const dep = await oracle(["chain", "deploy", "--json", "--key", key("user")], env);
    expect(dep.code, dep.stderr).toBe(0);
    const chained = lastJson<{ chained: string }>(dep).chained;
    const pixels = Float32Array.from({ length: 784 }, (_, i) => ((i % 28) - 14) ** 2 + (Math.floor(i / 28) - 14) ** 2 < 60 ? 0.9 : 0);
    writeFileSync(join(dir, "picture.json"), JSON.stringify({ dtype: "float32", shape: [1, 1, 28, 28], data: [...pixels] }));
    // The deployment places its own ChainedInference (protocol/deployment.ts): without --chained or ORACLE_CHAINED the
    // CLI uses it; `oracle chain deploy` made another, used below through ORACLE_CHAINED.
    const own = (JSON.parse(readFileSync(ready.deployment, "utf8")) as { chained?: string }).chained;
    expect(own).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(own).not.toBe(chained);
    const r = await oracle(["chain", "request", "--models", `${pre.modelHash},mnist-mlp`, "--input", join(dir, "picture.json"), "--wait", "--json", "--key", key("user")], { ...env, ORACLE_CHAINED: chained });
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ chainId: string; status: string; stepCount: number; outputHash: string; requestIds: string[] }>(r);
    expect(out.status).toBe("Completed");
    expect(out.stepCount).toBe(2);
    expect(out.requestIds).toHaveLength(2);
    const preSession = await ort.InferenceSession.create(pre.path);
    const small = (await preSession.run({ picture: new ort.Tensor("float32", pixels, [1, 1, 28, 28]) })).small!;
    const mlp = await ort.InferenceSession.create(join(ROOT, "models/mnist-mlp.onnx"));
    const logits = (await mlp.run({ pixels: small })).logits!;
    expect(out.outputHash).toBe(hashEncoded(encodeTensor({ dtype: "int8", shape: [1, 10], data: logits.data as Int8Array })));
    const status = await oracle(["chain", "status", out.chainId, "--chained", chained], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`chain ${out.chainId}: Completed at step 2 of 2`));
  }, 240_000);
});
