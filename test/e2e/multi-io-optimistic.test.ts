/**
 * Issue 14 on the in-process stack: a model with several named inputs and outputs (the 2-in / 2-out recurrent
 * cell, test/canonical/multi-io-model.ts) registered in OPTIMISTIC with the FraudGame and its canonical terms.
 * A request through the SDK (inputs by name, uploaded) is served in OPTIMISTIC by a real worker (onnxruntime,
 * the input bundle cached for a dispute), relayed, audited by the ChallengerDaemon (both bundles fetched by
 * their bundle hashes, each output within τ_out of the canonical one: left alone) and settled.
 */
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalTermsOf, commitProgram, lowerModel } from "../../canonical/index.js";
import { ChallengerDaemon } from "../../challenger/index.js";
import { OracleClient } from "../../sdk/index.js";
import { Tier } from "../../protocol/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { CELL_IN, CELL_OUT, CELL_STATE, cellInputs, multiIoModelFile } from "../canonical/multi-io-model.js";
import { TOL } from "../attacks/game-fixture.js";

describe("several inputs and outputs in OPTIMISTIC, end to end", () => {
  let stack: LocalStack;
  const cell = multiIoModelFile();

  beforeAll(async () => {
    stack = await startLocalStack({ resolver: "game" });
    const owner = stack.accounts.modelOwner;
    const info = {
      owner: await owner.getAddress(), fee: 0n, tiers: 3, active: true,
      resolver: await stack.game!.getAddress(), zkVerifier: "0x0000000000000000000000000000000000000000",
      commitmentRoot: `0x${"00".repeat(32)}`, input: { dtype: 1, shape: [1] }, output: { dtype: 1, shape: [1] }, uris: [pathToFileURL(cell.file).href],
    };
    const inputs = [{ name: "state", dtype: 1, shape: [1, CELL_STATE] }, { name: "x", dtype: 1, shape: [1, CELL_IN] }];
    const outputs = [{ name: "stateN", dtype: 1, shape: [1, CELL_STATE] }, { name: "y", dtype: 1, shape: [1, CELL_OUT] }];
    await (await stack.registry.connect(owner).registerModelIO(cell.modelHash, info, inputs, outputs)).wait();
    await (await stack.registry.connect(owner).setCanonicalTerms(cell.modelHash, canonicalTermsOf(commitProgram(lowerModel(cell.bytes), "fp32"), TOL))).wait();
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_optimisticBundle_servedCachedAuditedHonest_settles", async () => {
    const client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user, relayerUrl: stack.relayer.url, pollIntervalMs: 100 });
    const { x, state } = cellInputs(21);
    const sent = await client.request({ modelHash: cell.modelHash, inputs: { x, state }, tier: Tier.OPTIMISTIC, upload: true });
    stack.relayer.poke();
    await waitFor(async () => (await stack.oracle.state(sent.requestId)) === 2n, 120_000, "the OPTIMISTIC result on-chain");
    // The worker kept the input bundle to answer a game from.
    expect(stack.workers[0]!.inputs.has(sent.requestId)).toBe(true);
    const moveClock = Number(await stack.game!.moveClock());
    const daemon = new ChallengerDaemon({
      oracleAddress: await stack.oracle.getAddress(),
      runner: (await stack.ethers.getSigners())[15]!,
      blobStoreUrl: stack.relayer.url,
      policy: { maxBondAtRisk: 2n * DEFAULT_PARAMS.challengeBond },
      startBlock: stack.deployBlock,
      fraudGames: {
        models: new Map([[cell.modelHash.toLowerCase(), { bytes: cell.bytes, inputShape: [] }]]),
        audit: { secret: randomBytes(32), fraction: 1 },
        client: { wait: async (reason) => (reason === "clock" ? void (await stack.networkHelpers.time.increase(moveClock + 1)) : new Promise<void>((r) => setTimeout(r, 20))) },
      },
    });
    const outcomes = await daemon.poll();
    expect(outcomes.get(sent.requestId)).toMatchObject({ kind: "honest", checkedElements: CELL_STATE + CELL_OUT });
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(async () => (await stack.oracle.state(sent.requestId)) === 4n, 120_000, "settlement");
    const outcome = await client.wait(sent.requestId, { timeoutMs: 60_000 });
    const outs = await client.outputs(outcome.outputHash!, cell.modelHash);
    expect([...outs.keys()]).toEqual(["stateN", "y"]);
  }, 240_000);
});
