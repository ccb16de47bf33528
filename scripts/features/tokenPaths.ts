/**
 * demo:features `tokenSubscription` and `tokenChained` (docs/FEATURES.md, "ERC-20 fees across features"):
 * the subscription and the chain of the other demos, paid in an EIP-2612 token through the SDK (a permit,
 * so each is one transaction). The relayer's keeper triggers the token subscription's rounds, the workers
 * serve each as an oracle token request, the dApp's callback records each verdict, and cancelling pays the
 * unused round's tokens back; the token chain (MNIST preprocessing -> MNIST MLP) is advanced by the SDK.
 * What was paid and refunded is read on-chain, in the token.
 */
import { parseEther } from "ethers";
import { BlobClient, encodeTensor, Tier } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { SubscriptionClient, chainedContract, chainTokenStepFees, followChain, mnistPicture, requestChain, ChainStatus, decodePng } from "../../sdk/index.js";
import { ChainedInference__factory, PeriodicTextDirectionDApp__factory, TestPermitToken__factory } from "../../types/ethers-contracts/index.js";
import { waitFor, type LocalStack } from "../../stack/local-stack.js";
import { registerChainModels } from "./chained.js";
import type { FeatureDemo, FeatureReport } from "./types.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const UNIT = 10n ** 18n;
const TERMS = { accepted: true, ownerFee: 2n * UNIT, minWorkerFee: UNIT };
const ROUNDS = 2;

/** A permit token minted to the user and accepted on TERMS for `models`. */
async function acceptedToken(stack: LocalStack, models: string[]) {
  const { user, modelOwner } = stack.accounts;
  const token = await new TestPermitToken__factory(user).deploy();
  const address = await token.getAddress();
  await (await token.mint(await user.getAddress(), 1000n * UNIT)).wait();
  for (const m of models) await (await stack.registry.connect(modelOwner).setTokenTerms(m, address, TERMS)).wait();
  return { token, address };
}

export const tokenSubscription: FeatureDemo = {
  name: "tokenSubscription",
  title: `Subscriptions paid in a token: ${ROUNDS + 1} rounds prepaid in a permit token, ${ROUNDS} served, the last one's tokens refunded on cancel`,
  async run(stack, say): Promise<FeatureReport> {
    const user = stack.accounts.user;
    const me = await user.getAddress();
    const { token, address } = await acceptedToken(stack, [stack.modelHash]);
    const subsAddress = await stack.subscriptions.getAddress();
    const bytes = encodeTensor(textLineTensor("paid in tokens", { rotated: true }));
    const { hash, uri } = await new BlobClient({ storeUrl: stack.relayer.url }).upload(bytes);
    const dapp = await new PeriodicTextDirectionDApp__factory(user).deploy(subsAddress, hash, uri);
    const subs = await SubscriptionClient.connect({ address: subsAddress, runner: user });
    const fee = TERMS.ownerFee + TERMS.minWorkerFee;
    const tokensBefore = await token.balanceOf(me);
    const ownerBefore = await stack.oracle.tokenBalanceOf(await stack.accounts.modelOwner.getAddress(), address);
    const { subId, paid, tokens } = await subs.subscribe({
      modelHash: stack.modelHash, maxDeliveries: ROUNDS + 1, interval: 60, perDeliveryFee: fee, keeperReward: parseEther("0.0001"),
      consumer: await dapp.getAddress(), callbackGasLimit: 150_000, input: "consumer", token: { address },
    });
    say(`  subscription ${subId}: ${tokens} token units prepaid with a permit (+ ${paid} wei of callback gas and keeper rewards)`);
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) await stack.networkHelpers.time.increase(60);
      stack.relayer.poke();
      await waitFor(async () => (await dapp.checks()) >= BigInt(round + 1), 120_000, `token round ${round} delivered`);
      say(`  round ${round}: a token request, served and delivered: rotated180=${(await dapp.check(subId, round)).rotated180}`);
    }
    const cancelled = await subs.cancel(subId);
    const after = await subs.get(subId);
    const spent = tokensBefore - (await token.balanceOf(me));
    const ownerPaid = (await stack.oracle.tokenBalanceOf(await stack.accounts.modelOwner.getAddress(), address)) - ownerBefore;
    say(`  cancelled: ${fee} token units back; the user spent ${spent}, the model owner was paid ${ownerPaid} in the token`);
    const triggerGas: bigint[] = [];
    for (const e of await stack.subscriptions.queryFilter(stack.subscriptions.filters.RoundTriggered(subId))) triggerGas.push((await e.getTransactionReceipt()).gasUsed);
    const deliveryGas: bigint[] = [];
    for (const e of await stack.subscriptions.queryFilter(stack.subscriptions.filters.DeliveryFulfilled(subId))) deliveryGas.push((await e.getTransactionReceipt()).gasUsed);
    const mean = (xs: bigint[]) => (xs.length === 0 ? 0 : Number(xs.reduce((a, b) => a + b, 0n) / BigInt(xs.length)));
    const delivered =
      Number(await dapp.checks()) === ROUNDS && spent === BigInt(ROUNDS) * fee && ownerPaid === BigInt(ROUNDS) * TERMS.ownerFee &&
      after.state === "cancelled" && after.token?.balance === 0n && cancelled.refunded > 0n && (await token.balanceOf(subsAddress)) === 0n;
    return {
      delivered, subId: subId.toString(), token: address, callbacks: Number(await dapp.checks()), tokensPrepaid: String(tokens),
      tokensSpent: String(spent), ownerPaidInToken: String(ownerPaid), gasPerDelivery: mean(triggerGas) + mean(deliveryGas),
    };
  },
};

export const tokenChained: FeatureDemo = {
  name: "tokenChained",
  title: "Chained requests paid in a token: picture -> MNIST preprocessing -> MNIST MLP, every step's fee in a permit token",
  async run(stack, say): Promise<FeatureReport> {
    const user = stack.accounts.user;
    const { pre, mnistHash } = await registerChainModels(stack);
    const { token, address } = await acceptedToken(stack, [pre.modelHash, mnistHash]);
    const chainedAddr = await (await new ChainedInference__factory(user).deploy(await stack.oracle.getAddress())).getAddress();
    const chained = chainedContract(chainedAddr, user);
    const steps = [{ modelHash: pre.modelHash, tier: Tier.NONE }, { modelHash: mnistHash, tier: Tier.NONE }];
    const fees = await chainTokenStepFees(chained, steps, address, { tip: UNIT });
    const picture = encodeTensor(mnistPicture(decodePng(readFileSync(join(import.meta.dirname, "..", "..", "examples", "digit.png")))));
    const fromBlock = await stack.ethers.provider.getBlockNumber();
    const deadline = BigInt(await stack.networkHelpers.time.latest()) + 600n;
    const before = await token.balanceOf(await user.getAddress());
    const { chainId, receipt } = await requestChain(chained, {
      steps: steps.map((s, i) => ({ ...s, fee: fees[i]! })), input: picture, deadline, blobBaseURI: `${stack.relayer.url}/blobs/`, token: { address },
    });
    say(`  chain ${chainId}: fees ${fees.join(" + ")} token units with a permit (gas ${receipt.gasUsed})`);
    const final = await followChain(chained, chainId, { blobStoreUrl: stack.relayer.url, fromBlock, timeoutMs: 120_000, pollMs: 100 });
    const spent = before - (await token.balanceOf(await user.getAddress()));
    say(`  chain ${chainId}: ${ChainStatus[final.status]}, output ${final.outputHash.slice(0, 10)}…, ${spent} token units spent`);
    const stepGas: number[] = [];
    for (const id of final.requestIds) {
      const [ev] = await stack.oracle.queryFilter(stack.oracle.filters.RequestFulfilled(id), fromBlock);
      if (ev !== undefined) stepGas.push(Number((await stack.ethers.provider.getTransactionReceipt(ev.transactionHash))!.gasUsed));
    }
    const delivered = final.status === ChainStatus.Completed && spent === fees[0]! + fees[1]! && (await token.balanceOf(chainedAddr)) === 0n;
    return {
      delivered, chainId: chainId.toString(), token: address, status: ChainStatus[final.status], outputHash: final.outputHash,
      tokensSpent: String(spent), gasPerDelivery: Math.round(stepGas.reduce((a, b) => a + b, 0) / Math.max(1, stepGas.length)), stepDeliveryGas: stepGas,
    };
  },
};
