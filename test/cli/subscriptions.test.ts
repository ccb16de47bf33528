/**
 * `oracle subscribe`, `oracle subscriptions` and `oracle unsubscribe`, run for real (child processes
 * through bin/oracle.js) against `oracle dev`, whose relayer keeps the deployment's subscriptions
 * contract: rounds are triggered by the relayer's keeper and served by the dev worker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastJson, oracle, rpc, start, type LongRunning } from "./helpers.js";

interface Ready {
  rpcUrl: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle subscribe / subscriptions / unsubscribe against `oracle dev`", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const key = (role: string) => ready.accounts.find((a) => a.role === role)!.privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-subs-cli-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev")]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment, ORACLE_KEY: key("user") };
  }, 240_000);

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("subscribes; the relayer keeps the rounds; lists them; cancels with the unused part refunded", async () => {
    const sub = await oracle(["subscribe", "--model", "ppocr-cls", "--input", "examples/line-upside-down.png", "--rounds", "2", "--every", "2", "--keeper-reward", "0.0001", "--json"], env);
    expect(sub.code, sub.stderr).toBe(0);
    const { subId, paid, perDeliveryFee } = lastJson<{ subId: string; paid: string; perDeliveryFee: string }>(sub);
    expect(BigInt(paid)).toBe(2n * (BigInt(perDeliveryFee) + 10n ** 14n));
    // The dev chain mines a block a second: both rounds come due, the keeper triggers them, the worker serves them.
    let rounds: Array<{ status: string; outputHash: string | null }> = [];
    for (let i = 0; i < 90 && !(rounds.length === 2 && rounds.every((r) => r.status === "fulfilled")); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      rounds = lastJson<{ rounds: typeof rounds }>(await oracle(["subscriptions", "--id", subId, "--json"], env)).rounds;
    }
    expect(rounds.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(rounds[0]!.outputHash).toMatch(/^0x[0-9a-f]{64}$/);
    const mine = lastJson<{ subscriptions: Array<{ subId: string; state: string }> }>(await oracle(["subscriptions", "--json"], env));
    expect(mine.subscriptions).toEqual([expect.objectContaining({ subId, state: "finished" })]);

    const hourly = lastJson<{ subId: string; perDeliveryFee: string }>(
      await oracle(["subscribe", "--model", "ppocr-cls", "--input", "examples/line-upside-down.png", "--rounds", "3", "--every", "3600", "--json"], env),
    );
    // Another account may not cancel it.
    const stranger = await oracle(["unsubscribe", hourly.subId, "--json", "--key", key("admin")], env);
    expect(stranger.code).toBe(1);
    expect(lastJson<{ error: { code: string; message: string } }>(stranger).error).toMatchObject({ code: "TX_REVERTED", message: expect.stringContaining("SubsNotOwner") });
    // The first round was due at once; the two others come back now.
    const cancel = await oracle(["unsubscribe", hourly.subId, "--json"], env);
    expect(cancel.code, cancel.stderr).toBe(0);
    const c = lastJson<{ refunded: string; pending: number }>(cancel);
    // Two rounds, or all three when the keeper had not triggered the first yet.
    const untriggered = BigInt(c.refunded) / BigInt(hourly.perDeliveryFee);
    expect(untriggered === 2n || untriggered === 3n).toBe(true);
    expect(BigInt(c.refunded) % BigInt(hourly.perDeliveryFee)).toBe(0n);
    // On the closed subscription, unsubscribe withdraws refunds of rounds that were in flight: none yet
    // (the round in flight, if any, is served or refunded only at its deadline an hour later).
    const again = lastJson<{ withdrawn: string }>(await oracle(["unsubscribe", hourly.subId, "--json"], env));
    expect(again.withdrawn).toBe("0");
  }, 240_000);

  it("refuses bad options with stable codes before sending anything", async () => {
    const user = new Wallet(key("user")).address;
    const before = await rpc(ready.rpcUrl, "eth_getTransactionCount", [user, "latest"]);
    const cases: Array<[string[], string]> = [
      [["--rounds", "0", "--every", "60", "--input", "examples/line-upside-down.png"], "CONFIG_INVALID"],
      [["--rounds", "2", "--every", "x", "--input", "examples/line-upside-down.png"], "CONFIG_INVALID"],
      [["--rounds", "2", "--every", "60"], "CONFIG_INVALID"],
      [["--rounds", "2", "--every", "60", "--input-from-consumer"], "CONFIG_INVALID"],
      [["--rounds", "2", "--every", "60", "--input", "examples/line-upside-down.png", "--fee", "0.00001"], "FEE_TOO_LOW"],
      [["--rounds", "2", "--every", "60", "--input", "examples/line-upside-down.png", "--callback-gas", "100000"], "CONFIG_INVALID"],
      // Paid in a token: an address is needed, one the model accepts, and --fee (ETH) does not mix with it.
      [["--rounds", "2", "--every", "60", "--input", "examples/line-upside-down.png", "--token", "nope"], "CONFIG_INVALID"],
      [["--rounds", "2", "--every", "60", "--input", "examples/line-upside-down.png", "--token", "0x" + "11".repeat(20)], "FEE_TOO_LOW"],
      [["--rounds", "2", "--every", "60", "--input", "examples/line-upside-down.png", "--token", "0x" + "11".repeat(20), "--fee", "0.01"], "CONFIG_INVALID"],
    ];
    // Each is refused before anything is sent: all side by side.
    const [missing, ...refused] = await Promise.all([oracle(["subscriptions", "--id", "999", "--json"], env), ...cases.map(([args]) => oracle(["subscribe", "--model", "ppocr-cls", ...args, "--json"], env))]);
    for (const [i, [args, code]] of cases.entries()) {
      const r = refused[i]!;
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(1);
      expect(lastJson<{ error: { code: string } }>(r).error.code).toBe(code);
    }
    expect(await rpc(ready.rpcUrl, "eth_getTransactionCount", [user, "latest"])).toBe(before);
    expect(lastJson<{ error: { code: string } }>(missing).error.code).toBe("REQUEST_NOT_FOUND");
  }, 120_000);
});
