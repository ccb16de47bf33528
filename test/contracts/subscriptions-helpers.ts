/**
 * Fixture and helpers for the InferenceSubscriptions tests (test/contracts/subscriptions.test.ts and
 * test/attacks/subscriptions*.test.ts): the oracle deployment of helpers.ts plus the subscriptions
 * contract, a HostileSubscriber (honest unless told otherwise) and a subscribe wrapper.
 */
import { ZeroAddress, type Signer } from "ethers";
import { deploy, events, send, submission, FEE, INPUT_HASH, MODEL_HASH, OUTPUT, Tier, type Connection, type Fx } from "./helpers.js";
import { packBatch } from "../../protocol/index.js";

export const SubMode = { Honest: 0, Revert: 1, BurnGas: 2, HugeAnswer: 3, BadEncoding: 4, ReenterTrigger: 5, ReenterCancel: 6, ReturnBomb: 7 } as const;
export const DeliveryStatus = { None: 0, Pending: 1, Fulfilled: 2, Refunded: 3 } as const;
export const REWARD = 10n ** 14n;
export const INTERVAL = 600;
export const WINDOW = 3600;
export const CALLBACK_GAS = 100_000;

export async function deploySubs(conn: Connection) {
  const fx = await deploy(conn);
  // The deployment's own InferenceSubscriptions (protocol/deployment.ts places it).
  const subs: any = fx.subscriptions;
  const subsAddr: string = await subs.getAddress();
  const consumer: any = await fx.ethers.deployContract("HostileSubscriber", [subsAddr, INPUT_HASH]);
  return { ...fx, subs, subsAddr, consumer, consumerAddr: (await consumer.getAddress()) as string };
}
export type SubsFx = Awaited<ReturnType<typeof deploySubs>>;

export interface SubOpts {
  consumer?: string;
  interval?: number;
  intervalIsBlocks?: boolean;
  maxDeliveries?: number;
  fee?: bigint;
  reward?: bigint;
  callbackGasLimit?: number;
  deliveryWindow?: number;
  inputFromConsumer?: boolean;
  tier?: number;
}

export function subParams(fx: SubsFx, o: SubOpts = {}) {
  const consumer = o.consumer ?? fx.consumerAddr;
  return {
    modelHash: MODEL_HASH,
    tier: o.tier ?? Tier.NONE,
    consumer,
    interval: o.interval ?? INTERVAL,
    intervalIsBlocks: o.intervalIsBlocks ?? false,
    maxDeliveries: o.maxDeliveries ?? 3,
    perDeliveryFee: o.fee ?? FEE,
    keeperReward: o.reward ?? REWARD,
    callbackGasLimit: o.callbackGasLimit ?? (consumer === ZeroAddress ? 0 : CALLBACK_GAS),
    deliveryWindow: o.deliveryWindow ?? WINDOW,
    inputFromConsumer: o.inputFromConsumer ?? false,
    inputHash: o.inputFromConsumer ? "0x" + "00".repeat(32) : INPUT_HASH,
    inputURI: o.inputFromConsumer ? "" : "ipfs://input",
  };
}

export function prepay(p: ReturnType<typeof subParams>): bigint {
  return BigInt(p.maxDeliveries) * (p.perDeliveryFee + p.keeperReward);
}

/** Subscribes from `from` (default fx.requester); returns the subscription id. */
export async function subscribe(fx: SubsFx, o: SubOpts = {}, from: Signer = fx.requester): Promise<bigint> {
  const p = subParams(fx, o);
  const receipt = await send(fx.subs.connect(from).subscribe(p, { value: prepay(p) }));
  return events(receipt, fx.subs, "Subscribed")[0]!.args.subId as bigint;
}

/** Triggers a round as `keeper`; returns the request id (zero when the round was skipped) and the receipt. */
export async function trigger(fx: SubsFx, subId: bigint, keeper: Signer = fx.other, gasLimit?: number) {
  const receipt = await send(fx.subs.connect(keeper).trigger(subId, gasLimit === undefined ? {} : { gasLimit }));
  const ev = events(receipt, fx.subs, "RoundTriggered")[0];
  return { requestId: (ev?.args.requestId ?? null) as string | null, receipt };
}

/** A worker's NONE-tier result for `requestId`, submitted by the relayer (delivers at once). */
export async function deliver(fx: SubsFx, requestId: string, w = 0) {
  const sub = await submission(fx, requestId, fx.signers[w]!, { output: OUTPUT });
  return send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 3_000_000 }));
}

/** The subscriptions contract's books: ETH held == Σ balances + Σ keeper rewards + unattributed. */
export async function booksBalance(fx: SubsFx, subIds: bigint[], keepers: string[]): Promise<{ held: bigint; owed: bigint }> {
  let owed: bigint = await fx.subs.unattributed();
  for (const id of subIds) owed += (await fx.subs.getSubscription(id)).balance as bigint;
  for (const k of keepers) owed += (await fx.subs.rewardsOf(k)) as bigint;
  return { held: await fx.ethers.provider.getBalance(fx.subsAddr), owed };
}
