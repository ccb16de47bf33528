/**
 * The challenger service (challenger/main.ts, challenger/config.ts): configuration from a file and
 * CHALLENGER_* variables with every problem listed at once, and the service loop on the in-process
 * stack: it polls, re-runs the model canonically, plays the FraudGame against a faulty worker's
 * result (test-only fault injection) to its ruling, and withdraws the reward on stop.
 */
import { afterAll, describe, expect, it } from "vitest";
import { loadChallengerConfig } from "../../challenger/config.js";
import { startChallenger } from "../../challenger/main.js";
import { isError } from "../../protocol/index.js";
import { GameCheater } from "../../scripts/fault-injection.js";
import { CLS_MODEL_PATH, DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

const KEY = "0x" + "11".repeat(32);
const ORACLE = "0x" + "22".repeat(20);

describe("challenger config", () => {
  it("test_config_envOverridesFile_defaultsApplied", () => {
    const config = loadChallengerConfig(
      { rpcUrl: "http://127.0.0.1:8545", privateKey: KEY, oracle: ORACLE, blobStoreUrl: "http://127.0.0.1:1", models: [{ path: "m.onnx", inputShape: [1, 2] }] },
      { CHALLENGER_POLL_INTERVAL_MS: "250", CHALLENGER_POLICY: '{"maxBondAtRisk":"300000000000000000"}', OTHER_THING: "x" },
    );
    expect(config.pollIntervalMs).toBe(250);
    expect(config.policy).toEqual({ maxBondAtRisk: 300000000000000000n });
    expect(config.withdrawEveryPolls).toBe(12);
    const defaults = loadChallengerConfig({ rpcUrl: "http://x:1", privateKey: KEY, oracle: ORACLE, blobStoreUrl: "http://x:2", models: [{ path: "m", inputShape: [3] }] }, {});
    expect(defaults.policy).toEqual({ maxBondAtRisk: 10n ** 18n });
  });

  it("test_config_v1Settings_refusedNotIgnored", () => {
    // policy.fraction / rerun / seed drove the v1 audit of published traces: a config still setting one is refused with why.
    const base = { rpcUrl: "http://x:1", privateKey: KEY, oracle: ORACLE, blobStoreUrl: "http://x:2", models: [{ path: "m", inputShape: [3] }] };
    for (const [policy, hint] of [['{"fraction":0.05}', "canonicalFraction"], ['{"rerun":false}', "re-runs the model canonically"], ['{"seed":7}', "keyed by the challenger's key"]] as const) {
      let caught: unknown;
      try {
        loadChallengerConfig(base, { CHALLENGER_POLICY: policy });
      } catch (error) {
        caught = error;
      }
      expect(isError(caught, "CONFIG_INVALID")).toBe(true);
      expect((caught as Error).message).toContain("no longer supported");
      expect((caught as Error).message).toContain(hint);
    }
    expect(loadChallengerConfig(base, { CHALLENGER_POLICY: '{"maxBondAtRisk":"5"}' }).policy.maxBondAtRisk).toBe(5n);
  });

  it("test_config_fraudGames_offByDefault_envList", () => {
    const base = { rpcUrl: "http://x:1", privateKey: KEY, oracle: ORACLE, blobStoreUrl: "http://x:2", models: [{ path: "m", inputShape: [3] }] };
    const off = loadChallengerConfig(base, {});
    expect(off.fraudGames).toEqual([]);
    expect(off.canonicalFraction).toBe(1);
    const game = "0x" + "33".repeat(20);
    const on = loadChallengerConfig(base, { CHALLENGER_FRAUD_GAMES: `${game}, ${ORACLE}`, CHALLENGER_CANONICAL_FRACTION: "0.25" });
    expect(on.fraudGames.map((g) => g.toLowerCase())).toEqual([game, ORACLE]);
    expect(on.canonicalFraction).toBe(0.25);
    expect(() => loadChallengerConfig(base, { CHALLENGER_FRAUD_GAMES: "0x1234" })).toThrow();
  });

  it("test_config_blobFetchLimits_defaultsAndEnv", () => {
    const base = { rpcUrl: "http://x:1", privateKey: KEY, oracle: ORACLE, blobStoreUrl: "http://x:2", models: [{ path: "m", inputShape: [3] }] };
    const defaults = loadChallengerConfig(base, {});
    expect(defaults.fetch).toEqual({ attempts: 5, backoffMs: 250, retryBaseMs: 15_000, retryMaxMs: 300_000, maxAuditBytes: 1 << 30, timeoutMs: 30_000 });
    expect(defaults.concurrency).toBe(4);
    expect(defaults.maxAuditStarts).toBe(2);
    expect(defaults.statePath).toBeUndefined();
    const set = loadChallengerConfig(base, { CHALLENGER_FETCH: '{"maxAuditBytes":"1048576","attempts":3}', CHALLENGER_CONCURRENCY: "2", CHALLENGER_STATE_PATH: "/var/lib/challenger/state.json" });
    expect(set.fetch).toMatchObject({ maxAuditBytes: 1 << 20, attempts: 3, backoffMs: 250 });
    expect(set.concurrency).toBe(2);
    expect(set.statePath).toBe("/var/lib/challenger/state.json");
    expect(() => loadChallengerConfig(base, { CHALLENGER_FETCH: '{"attempts":0}' })).toThrow();
  });

  it("test_config_invalid_listsEveryProblem", () => {
    let caught: unknown;
    try {
      loadChallengerConfig({ models: [] }, { CHALLENGER_PRIVATE_KEY: "0x12", CHALLENGER_ORACLE: "nope", CHALLENGER_POLICY: '{"maxBondAtRisk":"-1"}', CHALLENGER_RPC_URL: "not a url" });
    } catch (error) {
      caught = error;
    }
    expect(isError(caught, "CONFIG_INVALID")).toBe(true);
    const message = (caught as Error).message;
    for (const key of ["rpcUrl", "privateKey", "oracle", "blobStoreUrl", "models", "policy.maxBondAtRisk"]) expect(message).toContain(`${key}:`);
  });
});

describe("challenger service loop", () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.close();
  });

  it("test_service_playsTheFraudGameByDefault_cheaterSlashed_withdrawsOnStop", async () => {
    // The default deployment: the classifier's resolver is the FraudGame; the cheater answers its own game.
    stack = await startLocalStack({ resolver: "game", workers: 0 });
    const cheater = new GameCheater();
    await stack.addWorker({ traceBuilder: cheater, gameResponder: cheater.responder });
    const signer = (await stack.ethers.getSigners())[16]!;
    const config = loadChallengerConfig(
      {
        rpcUrl: "http://127.0.0.1:1", // unused: the in-process chain's signer is passed in
        privateKey: KEY,
        oracle: await stack.oracle.getAddress(),
        blobStoreUrl: stack.relayer.url,
        models: [{ path: CLS_MODEL_PATH, inputShape: [1, 3, 48, 192] }],
        policy: { maxBondAtRisk: String(DEFAULT_PARAMS.challengeBond) },
        pollIntervalMs: 50,
        startBlock: stack.deployBlock,
        withdrawEveryPolls: 1_000,
      },
      {},
    );
    // No CHALLENGER_FRAUD_GAMES: the service finds the game on-chain and plays it.
    expect(config.fraudGames).toEqual([]);
    const running = await startChallenger(config, { signer });
    try {
      const id = await classify(stack, await uploadBlob(stack, textInput("Stake and sign", false)));
      stack.relayer.poke();
      await waitFor(() => running.stats.audited > 0, 180_000, "the cheater's result audited and its game played");
      expect(running.stats).toMatchObject({ audited: 1, proven: 1, honest: 0, gamesLost: 0 });
      expect((await stack.game!.game(id)).ruling).toBe(2n); // WorkerFault
      expect(running.stats.errors).toBe(0);
      expect(await stack.oracle.balanceOf(running.address)).toBe(DEFAULT_PARAMS.challengeBond + DEFAULT_PARAMS.resultBond - (DEFAULT_PARAMS.resultBond * BigInt(DEFAULT_PARAMS.burnBps)) / 10_000n);
    } finally {
      await running.stop();
    }
    expect(running.stats.withdrawnWei).toBe(DEFAULT_PARAMS.challengeBond + DEFAULT_PARAMS.resultBond - (DEFAULT_PARAMS.resultBond * BigInt(DEFAULT_PARAMS.burnBps)) / 10_000n);
    expect(await stack.oracle.balanceOf(running.address)).toBe(0n);
  }, 300_000);
});
