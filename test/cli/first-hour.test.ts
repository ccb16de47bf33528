/**
 * A new user's first hour with the `oracle` command (issue 16), run for real as child processes
 * against one `oracle dev` stack: mistakes that used to fail silently now fail at once, naming the
 * cause and the command that fixes it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastJson, oracle, start, type LongRunning } from "./helpers.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const keyOf = (i: number) => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;

interface Ready {
  rpcUrl: string;
  relayerUrl: string;
  chainId: string;
  oracle: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle: the first hour", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-first-hour-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev"), "--challenge-window", "3"]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
  });

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("a worker whose signing key is not staked fails `worker start --check` and refuses to start, naming the key, the stake and the fix", async () => {
    const signer = Wallet.createRandom();
    const env = { WORKER_SIGNER_KEY: signer.privateKey, RABBITMQ_URL: "amqp://127.0.0.1:1", WORKER_MODEL_CACHE_DIR: join(dir, "w") };
    const args = ["--deployment", ready.deployment];

    const check = await oracle(["worker", "start", "--check", ...args], env);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("error [CONFIG_INVALID]");
    expect(check.stderr).toContain(`signing key ${signer.address} is not staked with the oracle ${ready.oracle}`);
    expect(check.stderr).toContain(`oracle stake 1.1 --signer ${signer.address} --key <operator key>`);

    // Not only the check: starting it for real refuses the same way, before it connects anywhere.
    const run = await oracle(["worker", "start", ...args], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`signing key ${signer.address} is not staked`);
    expect(run.stderr).not.toContain("worker ready");

    // The fix the message names works: stake for the signer from an operator account, and the check passes.
    const operatorKey = keyOf(13);
    const staked = await oracle(["stake", "1.1", "--signer", signer.address, ...args, "--key", operatorKey]);
    expect(staked.code, staked.stderr).toBe(0);
    const ok = await oracle(["worker", "start", "--check", "--json", ...args], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson<{ ok: boolean }>(ok).ok).toBe(true);

    // Stake that is unbonding does not count: below the minimum, the check names the stake and the minimum.
    expect((await oracle(["unstake", "0.5", ...args, "--key", operatorKey])).code).toBe(0);
    const low = await oracle(["worker", "start", "--check", ...args], env);
    expect(low.code).toBe(1);
    expect(low.stderr).toContain(`signing key ${signer.address} (operator ${new Wallet(operatorKey).address}) has 0.6 ETH active stake`);
    expect(low.stderr).toContain("below the minimum 1.0 ETH");
    expect(low.stderr).toMatch(/oracle stake 0\.5 --key <operator key>/);
  });
});
