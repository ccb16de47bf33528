/**
 * Token-paid subscriptions and chains end to end on the in-process stack (docs/FEATURES.md, "ERC-20 fees
 * across features"): the demo:features modules (tokenSubscription, tokenChained) through the real relayer,
 * worker and SDK; then, with no worker, the relayer settling what the oracle's refund of a token request
 * leaves behind: its keeper syncs a refunded token round back into the subscription, and its chain
 * advancer reconciles a chain whose token step was refunded (the previous attempt missed this).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEther, ZeroAddress } from "ethers";
import { createLogger, encodeTensor, Tier } from "../../protocol/index.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { tokenChained, tokenSubscription } from "../../scripts/features/tokenPaths.js";
import { registerChainModels } from "../../scripts/features/chained.js";
import { chainStatus, chainTokenStepFees, requestChain, ChainStatus, SubscriptionClient } from "../../sdk/index.js";
import { ChainedInference__factory, TestPermitToken__factory } from "../../types/ethers-contracts/index.js";

const UNIT = 10n ** 18n;

async function permitToken(stack: LocalStack, models: string[]) {
  const user = stack.accounts.user;
  const token = await new TestPermitToken__factory(user).deploy();
  await (await token.mint(await user.getAddress(), 1000n * UNIT)).wait();
  for (const m of models) await (await stack.registry.connect(stack.accounts.modelOwner).setTokenTerms(m, await token.getAddress(), { accepted: true, ownerFee: UNIT, minWorkerFee: UNIT })).wait();
  return token;
}

describe("token-paid subscriptions and chains on the in-process stack", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 1, logger: createLogger("oracle", { level: "error" }) });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("delivers keeper-triggered token rounds and a token chain (demo:features tokenSubscription, tokenChained)", async () => {
    const sub = await tokenSubscription.run(stack, () => undefined);
    expect(sub.delivered, JSON.stringify(sub)).toBe(true);
    expect(sub.callbacks).toBe(2);
    // The dashboard's subscriptions panel shows the fee token and the unspent tokens.
    const api = (await (await fetch(`${stack.relayer.url}/api/subscriptions`)).json()) as any;
    expect(api.subscriptions.find((x: any) => x.subId === sub.subId)).toMatchObject({ token: sub.token, tokenBalance: "0", state: "cancelled" });
    const chain = await tokenChained.run(stack, () => undefined);
    expect(chain.delivered, JSON.stringify(chain)).toBe(true);
    expect(chain.status).toBe("Completed");
  }, 180_000);

  it("with no worker: the keeper syncs a refunded token round and the advancer reconciles a refunded token step", async () => {
    const idle = await startLocalStack({ tier: Tier.NONE, workers: 0, logger: createLogger("oracle", { level: "error" }) });
    try {
      const user = idle.accounts.user;
      const me = await user.getAddress();
      const { pre, mnistHash } = await registerChainModels(idle);
      const token = await permitToken(idle, [idle.modelHash, pre.modelHash, mnistHash]);
      const tokenAddr = await token.getAddress();

      // A token subscription whose round nobody serves.
      const subs = await SubscriptionClient.connect({ address: await idle.subscriptions.getAddress(), runner: user });
      const { subId } = await subs.subscribe({
        modelHash: idle.modelHash, maxDeliveries: 1, interval: 60, perDeliveryFee: 2n * UNIT, keeperReward: parseEther("0.0001"),
        consumer: ZeroAddress, deliveryWindow: 60, input: { inputHash: "0x" + "ab".repeat(32), inputURI: "http://example.invalid/x" }, token: { address: tokenAddr },
      });
      idle.relayer.poke(); // the keeper triggers the round
      await waitFor(async () => (await subs.rounds(subId)).length === 1, 30_000, "the keeper to trigger the token round");
      const [round] = await subs.rounds(subId);
      expect(round!.status).toBe("pending");

      // A token chain whose step 0 nobody serves, on a contract the relayer watches.
      const c = await new ChainedInference__factory(user).deploy(await idle.oracle.getAddress());
      idle.relayer.chainAdvancer.watch(await c.getAddress(), await idle.ethers.provider.getBlockNumber());
      const steps = [{ modelHash: pre.modelHash, tier: Tier.NONE }, { modelHash: mnistHash, tier: Tier.NONE }];
      const fees = await chainTokenStepFees(c, steps, tokenAddr);
      const picture = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: new Float32Array(784) });
      const deadline = BigInt(await idle.networkHelpers.time.latest()) + 200n;
      const { chainId } = await requestChain(c, { steps: steps.map((s, i) => ({ ...s, fee: fees[i]! })), input: picture, deadline, token: { address: tokenAddr } });

      // Both expire; anyone refunds them at the oracle. The refunds carry no tokens: the relayer settles them.
      await idle.networkHelpers.time.increase(300);
      await (await idle.oracle.refundExpired([round!.requestId!, (await chainStatus(c, chainId)).requestId])).wait();
      expect((await chainStatus(c, chainId)).status).toBe(ChainStatus.Running);
      idle.relayer.poke();
      await waitFor(async () => (await subs.rounds(subId))[0]!.status === "refunded", 30_000, "the keeper to sync the refunded token round");
      await waitFor(async () => (await chainStatus(c, chainId)).status === ChainStatus.Ended, 30_000, "the advancer to reconcile the refunded token step");
      expect((await subs.get(subId)).token?.balance).toBe(2n * UNIT);
      expect(await c.tokenBalanceOf(me, tokenAddr)).toBe(fees[0]! + fees[1]!);
      // Sent by the relayer (recorded once its receipt is back, a moment after the state changed).
      await waitFor(() => idle.relayer.transactions.some((t) => t.label === "syncRound"), 10_000, "the relayer's sync transaction");
      await waitFor(() => idle.relayer.transactions.some((t) => t.label === "reconcileChain"), 10_000, "the relayer's reconcile transaction");
    } finally {
      await idle.close();
    }
  }, 180_000);
});
