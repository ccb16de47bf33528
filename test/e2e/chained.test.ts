/**
 * Chained requests end to end on the local stack (in-process EVM, the relayer, three real workers running
 * onnxruntime, the in-process queue): the demo:features `chained` module (scripts/features/chained.ts) runs
 * a picture through the MNIST preprocessing model and then the MNIST MLP in one chained request, the SDK
 * advancing the chain, and checks on-chain that the dApp received B(A(picture)) as onnxruntime-node
 * computes it here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, Tier, encodeTensor } from "../../protocol/index.js";
import { sha256File, startLocalStack, waitFor, MNIST_MODEL_PATH, type LocalStack } from "../../stack/local-stack.js";
import { chained } from "../../scripts/features/chained.js";
import { writeMnistPreprocess } from "../../scripts/chain-models.js";
import { chainStatus, chainStepFees, requestChain, ChainStatus, ChainedInference__factory } from "../../sdk/index.js";

describe("chained requests, end to end (NONE tier)", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("oracle", { level: "error" }) });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_chain_preprocessThenMnist_dappReceivesBofA_matchesLocalOnnxruntime", async () => {
    const lines: string[] = [];
    const report = await chained.run(stack, (l) => lines.push(l));
    expect(report.delivered, lines.join("\n")).toBe(true);
    expect(report.matchesLocal).toBe(true);
    expect(report.intermediateMatchesLocal).toBe(true);
    expect(report.steps).toBe(2);
    expect(report.digit).toBe(report.localDigit);
    expect((report.gas as { advance: number[] }).advance).toHaveLength(1);
  }, 180_000);

  it("test_relayerWatchingChainContract_advancesReadyChainsOnItsOwn", async () => {
    // The models the first test registered; a fresh chain contract the relayer is told to watch.
    const pre = writeMnistPreprocess(stack.dataDir + "/chain-models");
    const mnist = sha256File(MNIST_MODEL_PATH);
    const user = stack.accounts.user;
    const c = await new ChainedInference__factory(user).deploy(await stack.oracle.getAddress());
    const from = await stack.ethers.provider.getBlockNumber();
    stack.relayer.chainAdvancer.watch(await c.getAddress(), from);
    const steps = [{ modelHash: pre.modelHash, tier: Tier.NONE }, { modelHash: mnist, tier: Tier.NONE }];
    const fees = await chainStepFees(c, steps);
    const picture = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: new Float32Array(784).map((_, i) => (i % 28 === 14 ? 1 : 0)) });
    const deadline = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp) + 600n;
    const { chainId } = await requestChain(c, { steps: steps.map((s, i) => ({ ...s, fee: fees[i]! })), input: picture, deadline });
    // Nobody but the relayer sends advance here.
    await waitFor(async () => (await chainStatus(c, chainId)).status === ChainStatus.Completed, 60_000, "the relayer to advance the chain to its end");
    const s = await chainStatus(c, chainId);
    expect(s.requestIds).toHaveLength(2);
    expect(stack.relayer.transactions.some((t) => t.label === "advanceChain")).toBe(true);
    // The dashboard's API lists the chain with its two requests.
    const body = (await (await fetch(`${stack.relayer.url}/api/chains`)).json()) as { contracts: Array<{ address: string; chains: Array<{ chainId: string; status: string; requestIds: string[]; step: number }> }> };
    const address = (await c.getAddress()).toLowerCase();
    const listed = body.contracts.find((x) => x.address === address)?.chains.find((x) => x.chainId === String(chainId));
    expect(listed?.status).toBe("Completed");
    expect(listed?.requestIds).toEqual(s.requestIds);
    expect(listed?.step).toBe(2);
  }, 120_000);
});
