/**
 * demo:features `subscription`: prepaid recurring inference (InferenceSubscriptions). A dApp
 * (PeriodicTextDirectionDApp) subscribes for 4 rounds, one every 60 s of chain time, of a check of
 * whether its feed image is upside down; the relayer's keeper triggers each due round (chain time is
 * advanced between rounds), the workers serve each round as an ordinary oracle request, and the dApp's
 * callback records each verdict. After 3 deliveries the subscriber cancels and gets the unused round
 * back. Everything reported is read on-chain.
 */
import { formatEther, parseEther } from "ethers";
import { BlobClient, encodeTensor } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { SubscriptionClient } from "../../sdk/index.js";
import { PeriodicTextDirectionDApp__factory } from "../../types/ethers-contracts/index.js";
import { REQUEST_FEE, waitFor, type LocalStack } from "../../stack/local-stack.js";
import type { FeatureDemo, FeatureReport } from "./types.js";

const ROUNDS = 3;
const PREPAID = ROUNDS + 1;
const INTERVAL = 60;
const KEEPER_REWARD = parseEther("0.0001");

export const subscription: FeatureDemo = {
  name: "subscription",
  title: `Subscriptions: ${PREPAID} prepaid rounds every ${INTERVAL} s, triggered by the relayer's keeper; cancelled after ${ROUNDS}`,
  async run(stack: LocalStack, say: (line: string) => void): Promise<FeatureReport> {
    const { relayer, networkHelpers, ethers } = stack;
    const user = stack.accounts.user;
    const subsAddress = await stack.subscriptions.getAddress();

    // The feed's image: a rendered text line, upside down, in the relayer's blob store.
    const bytes = encodeTensor(textLineTensor("subscriptions every minute", { rotated: true }));
    const { hash, uri } = await new BlobClient({ storeUrl: relayer.url }).upload(bytes);
    const dapp = await new PeriodicTextDirectionDApp__factory(user).deploy(subsAddress, hash, uri);
    await dapp.waitForDeployment();
    const dappAddress = await dapp.getAddress();

    const subs = await SubscriptionClient.connect({ address: subsAddress, runner: user });
    const { subId, paid } = await subs.subscribe({
      modelHash: stack.modelHash,
      maxDeliveries: PREPAID,
      interval: INTERVAL,
      perDeliveryFee: REQUEST_FEE,
      keeperReward: KEEPER_REWARD,
      consumer: dappAddress,
      callbackGasLimit: 150_000,
      input: "consumer",
    });
    say(`  subscription ${subId}: ${PREPAID} rounds prepaid (${formatEther(paid)} ETH), the dApp answers each round's input`);

    const keeperBefore = relayer.keeper?.triggered ?? 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) await networkHelpers.time.increase(INTERVAL);
      relayer.poke();
      await waitFor(async () => (await dapp.checks()) >= BigInt(round + 1), 120_000, `round ${round} delivered`);
      const c = await dapp.check(subId, round);
      say(`  round ${round}: triggered by the keeper, served, delivered: rotated180=${c.rotated180} (decoded ${c.decoded})`);
    }
    const before = await subs.get(subId);
    const balanceBefore = await ethers.provider.getBalance(await user.getAddress());
    const cancelled = await subs.cancel(subId);
    const after = await subs.get(subId);
    say(`  cancelled after ${before.fulfilled} deliveries: ${formatEther(cancelled.refunded)} ETH refunded at once`);

    // What the dApp received, and what came back, read on-chain.
    const checks: { round: number; decoded: boolean; rotated180: boolean; outputHash: string; kept: string }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const c = await dapp.check(subId, round);
      checks.push({ round, decoded: c.decoded, rotated180: c.rotated180, outputHash: c.outputHash, kept: await stack.subscriptions.outputOf(subId, round) });
    }
    const triggerGas: bigint[] = [];
    const deliveryGas: bigint[] = [];
    for (const e of await stack.subscriptions.queryFilter(stack.subscriptions.filters.RoundTriggered(subId))) {
      triggerGas.push((await e.getTransactionReceipt()).gasUsed);
    }
    for (const e of await stack.subscriptions.queryFilter(stack.subscriptions.filters.DeliveryFulfilled(subId))) {
      const receipt = await e.getTransactionReceipt();
      const items = receipt.logs.filter((l) => l.topics[0] === stack.oracle.interface.getEvent("RequestFulfilled").topicHash).length;
      deliveryGas.push(receipt.gasUsed / BigInt(Math.max(1, items)));
    }
    const mean = (xs: bigint[]) => (xs.length === 0 ? 0 : Number(xs.reduce((a, b) => a + b, 0n) / BigInt(xs.length)));
    const unused = BigInt(PREPAID - ROUNDS) * (REQUEST_FEE + KEEPER_REWARD);
    const received = Number(await dapp.checks());
    const delivered =
      received === ROUNDS &&
      checks.every((c) => c.decoded && c.rotated180 && c.outputHash === c.kept) &&
      before.fulfilled === ROUNDS &&
      cancelled.refunded === unused &&
      after.state === "cancelled" &&
      after.balance === 0n &&
      (await ethers.provider.getBalance(await user.getAddress())) > balanceBefore;
    return {
      delivered,
      subId: subId.toString(),
      callbacks: received,
      rotated180: checks.map((c) => c.rotated180),
      keeperTriggers: (relayer.keeper?.triggered ?? 0) - keeperBefore,
      keeperRewardsOwed: formatEther(await stack.subscriptions.rewardsOf(await stack.accounts.relayer.getAddress())),
      refundedOnCancel: formatEther(cancelled.refunded),
      expectedRefund: formatEther(unused),
      gasPerDelivery: mean(triggerGas) + mean(deliveryGas),
      triggerGas: mean(triggerGas),
      deliveryGas: mean(deliveryGas),
    };
  },
};
