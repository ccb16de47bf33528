/**
 * `oracle redundant` against `oracle dev` with two workers and a 3-second challenge window (issue 18,
 * redundancy): RedundantInference deployed with `oracle redundant deploy`, then `oracle redundant request
 * --model mnist-mlp --k 2 --wait` asks both workers for the same digit, attests each answer's worker as it
 * settles, replaces a duplicate from the reserve and delivers the decided job: Agreed, from two distinct
 * workers, with the MLP's output as onnxruntime computes it here. The request prepays an attester reward
 * (`--attest-reward`), earned by whoever attests (here the CLI's own key, moving the job on with --wait);
 * `oracle redundant withdraw` pulls the key's credits (unused reserve, unearned and earned rewards) once.
 * Then a job paid in an ERC-20 token the model's owner accepts (`--token`, with an EIP-2612 permit): the
 * fees are paid in the token, the unused reserve comes back in it (`withdraw --token`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { encodeTensor, hashEncoded } from "../../protocol/index.js";
import { MNIST_MLP_HASH } from "../../sdk/index.js";
import { IOracleTokenFees__factory, TestPermitToken__factory } from "../../types/ethers-contracts/index.js";
import { lastJson, oracle, start, ROOT, type LongRunning } from "./helpers.js";

interface Ready {
  rpcUrl: string;
  oracle: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle CLI: redundancy", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const key = (role: string) => ready.accounts.find((a) => a.role === role)!.privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-redundant-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--workers", "2", "--challenge-window", "3", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev")]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment };
  }, 240_000);
  afterAll(async () => {
    await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
  });

  it("test_redundantRequest_twoDistinctWorkersAgree_waitDelivers", async () => {
    const seven = Int8Array.from({ length: 49 }, (_, i) => (i % 7 === 3 || i < 7 ? 100 : 0));
    const input = join(dir, "seven.json");
    writeFileSync(input, JSON.stringify({ dtype: "int8", shape: [1, 7, 7], data: [...seven] }));
    // The deployment places its own RedundantInference (protocol/deployment.ts): without --redundant or
    // ORACLE_REDUNDANT the CLI uses it; `oracle redundant deploy` below makes another.
    expect((JSON.parse(readFileSync(ready.deployment, "utf8")) as { redundant?: string }).redundant).toMatch(/^0x[0-9a-fA-F]{40}$/);
    // The refused request sends nothing: side by side with the deployment.
    const [bad, dep] = await Promise.all([
      oracle(["redundant", "request", "--model", "mnist-mlp", "--input", input, "--k", "1", "--redundant", "0x" + "11".repeat(20), "--key", key("user")], env),
      oracle(["redundant", "deploy", "--json", "--key", key("user")], env),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/CONFIG_INVALID.*--k takes 2\.\.8/);
    expect(dep.code, dep.stderr).toBe(0);
    const redundant = lastJson<{ redundant: string }>(dep).redundant;
    const r = await oracle(["redundant", "request", "--model", "mnist-mlp", "--input", input, "--k", "2", "--reserve", "3", "--attest-reward", "0.0001", "--wait", "--timeout", "180", "--json", "--key", key("user")], { ...env, ORACLE_REDUNDANT: redundant });
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ jobId: string; status: string; counted: number; outputHash: string; delivered: boolean; answers: Array<{ status: string; worker: string }> }>(r);
    expect(out.status).toBe("Agreed");
    expect(out.counted).toBe(2);
    expect(out.delivered).toBe(true);
    const workers = out.answers.filter((a) => a.status === "Counted").map((a) => a.worker.toLowerCase());
    expect(new Set(workers).size).toBe(2);
    const mlp = await ort.InferenceSession.create(join(ROOT, "models/mnist-mlp.onnx"));
    const logits = (await mlp.run({ pixels: new ort.Tensor("int8", seven, [1, 7, 7]) })).logits!;
    expect(out.outputHash).toBe(hashEncoded(encodeTensor({ dtype: "int8", shape: [1, 10], data: logits.data as Int8Array })));
    const redundantEnv = { ...env, ORACLE_REDUNDANT: redundant };
    // The status read beside the withdrawal.
    const [status, w] = await Promise.all([oracle(["redundant", "status", out.jobId, "--redundant", redundant], env), oracle(["redundant", "withdraw", "--json", "--key", key("user")], redundantEnv)]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`job ${out.jobId}: Agreed, 2 of 2 distinct workers counted`));
    expect(w.code, w.stderr).toBe(0);
    // At least the attester rewards of the two counted answers and the unearned decide reward come back.
    expect(BigInt(lastJson<{ amount: string }>(w).amount)).toBeGreaterThanOrEqual(3n * 10n ** 14n);
    const again = await oracle(["redundant", "withdraw", "--key", key("user")], redundantEnv);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/nothing to withdraw/);
  }, 300_000);

  it("test_redundantRequest_paidInToken_withPermit_reserveBackInToken", async () => {
    const provider = new JsonRpcProvider(ready.rpcUrl, undefined, { staticNetwork: true });
    const userAddress = ready.accounts.find((a) => a.role === "user")!.address;
    const token = await new TestPermitToken__factory(new NonceManager(new Wallet(key("user"), provider))).deploy();
    await token.waitForDeployment();
    const tokenAddress = await token.getAddress();
    await (await token.mint(userAddress, 10n ** 18n)).wait();
    const accepted = await oracle(["model", "accept-token", MNIST_MLP_HASH, tokenAddress, "--owner-fee", "3000", "--min-worker-fee", "1000", "--json", "--key", key("modelOwner")], env);
    expect(accepted.code, accepted.stderr).toBe(0);
    const input = join(dir, "token-input.json");
    writeFileSync(input, JSON.stringify({ dtype: "int8", shape: [1, 7, 7], data: Array.from({ length: 49 }, (_, i) => (i % 5 === 0 ? 90 : 0)) }));
    const r = await oracle(["redundant", "request", "--model", "mnist-mlp", "--input", input, "--k", "2", "--reserve", "1", "--token", tokenAddress, "--token-tip", "500", "--wait", "--timeout", "180", "--json", "--key", key("user")], env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ status: string; counted: number; token: string; fee: string; paid: string }>(r);
    expect([out.status, out.counted, out.token, out.fee, out.paid]).toEqual(["Agreed", 2, tokenAddress, "4500", "13500"]);
    // Each answer paid the model's owner in the token.
    const fees = IOracleTokenFees__factory.connect(ready.oracle, provider);
    expect(await fees.tokenBalanceOf(ready.accounts.find((a) => a.role === "modelOwner")!.address, tokenAddress)).toBe(6000n);
    const w = await oracle(["redundant", "withdraw", "--token", tokenAddress, "--json", "--key", key("user")], env);
    expect(w.code, w.stderr).toBe(0);
    expect(lastJson<{ amount: string }>(w).amount).toBe("4500");
    expect(await token.balanceOf(userAddress)).toBe(10n ** 18n - 9000n);
  }, 300_000);
});
