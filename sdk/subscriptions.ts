/**
 * SubscriptionClient: prepaid recurring inference (InferenceSubscriptions, docs/FEATURES.md
 * "Subscriptions"). Subscribe for up to M rounds every N seconds (or blocks), each round an ordinary
 * oracle request triggered by any keeper; list and follow subscriptions; cancel with the unused part
 * refunded at once; withdraw refunds of rounds that were still in flight.
 *
 *   const subs = await SubscriptionClient.connect({ address: "0x...", runner: wallet });
 *   const { subId } = await subs.subscribe({ modelHash, maxDeliveries: 3, interval: 3600, perDeliveryFee: fee,
 *     input: { inputHash, inputURI }, consumer: dappAddress, callbackGasLimit: 150_000 });
 *   await subs.cancel(subId); // the unused rounds come back now
 *
 * Paid in a token (`token: { address }`): perDeliveryFee is then in the token (prepaid with a permit, or an
 * approval), each round sends `callbackFee` wei for its callback's gas, and the keeper reward stays in wei.
 */
import { getAddress, Interface, ZeroAddress, ZeroHash, type ContractRunner, type Provider, type Signer } from "ethers";
import { InferenceSubscriptions__factory, type InferenceSubscriptions } from "../types/ethers-contracts/index.js";
import { Tier, type Hex } from "../protocol/types.js";
import { chainError, OracleSdkError, revertData } from "./errors.js";
import { callbackGasPrice, permitDeadline, tokenPermitOrApprove, type TokenPayment } from "./token-pay.js";
import { IInferenceOracle__factory } from "../protocol/contracts.js";

export interface SubscriptionClientOptions {
  /** InferenceSubscriptions address. */
  address: string;
  /** A Signer (to subscribe, cancel, trigger) or a Provider (read-only). */
  runner: Signer | Provider;
}

export interface SubscribeOptions {
  modelHash: string;
  tier?: Tier;
  /** Rounds to prepay (1..2^32-1). */
  maxDeliveries: number;
  /** Seconds between rounds, or blocks with `intervalIsBlocks`; the first round is due at once. */
  interval: number;
  intervalIsBlocks?: boolean;
  /** Fee of each round's oracle request (at least the oracle's minimum for the model; see OracleClient.quote with requestGasLimit). */
  perDeliveryFee: bigint;
  /** Paid to whoever triggers a round (default 0: left to keepers that keep for free, like the relayer). */
  keeperReward?: bigint;
  /** Contract that receives each result (ISubscriptionConsumer); none: results are only kept on-chain (`outputOf`). */
  consumer?: string;
  /** Gas of the consumer's callback (default 150,000 with a consumer, else 0). */
  callbackGasLimit?: number;
  /** Each round's request deadline, in seconds after its trigger (default 3600). */
  deliveryWindow?: number;
  /** Every round's input, or "consumer": asked of the consumer's `subscriptionInput(subId, round)` each round. */
  input: { inputHash: string; inputURI: string } | "consumer";
  /**
   * Pay the rounds' fees in an ERC-20 token the model accepts: perDeliveryFee is in the token; `callbackFee`
   * is the wei each round sends for its callback's gas (default: requestGasLimit x today's callback gas price x 2).
   */
  token?: TokenPayment & { callbackFee?: bigint };
}

export interface SubscriptionInfo {
  subId: bigint;
  owner: string;
  consumer: string;
  modelHash: Hex;
  tier: Tier;
  interval: number;
  intervalIsBlocks: boolean;
  maxDeliveries: number;
  triggered: number;
  fulfilled: number;
  refunded: number;
  skipped: number;
  pending: number;
  perDeliveryFee: bigint;
  keeperReward: bigint;
  balance: bigint;
  nextDue: bigint;
  cancelled: boolean;
  /** open: rounds left; finished: every round made (refunds may still come back); cancelled. */
  state: "open" | "finished" | "cancelled";
  inputFromConsumer: boolean;
  inputHash: Hex;
  inputURI: string;
  /** The fee token (absent: ETH), the wei each token round sends for its callback, and the unspent tokens. */
  token?: { address: string; callbackFee: bigint; balance: bigint };
}

export interface RoundInfo {
  round: number;
  requestId: Hex | null;
  /** none: not made (or skipped); pending; fulfilled (outputHash kept); refunded (fee back in the balance). */
  status: "none" | "pending" | "fulfilled" | "refunded";
  outputHash: Hex | null;
}

const STATUS = ["none", "pending", "fulfilled", "refunded"] as const;
const SUBS_INTERFACE = new Interface(InferenceSubscriptions__factory.abi);

export class SubscriptionClient {
  readonly subs: InferenceSubscriptions;
  private constructor(
    readonly address: string,
    private readonly runner: Signer | Provider,
  ) {
    this.subs = InferenceSubscriptions__factory.connect(address, runner as ContractRunner);
  }

  static async connect(options: SubscriptionClientOptions): Promise<SubscriptionClient> {
    let address: string;
    try {
      address = getAddress(options.address);
    } catch {
      throw new OracleSdkError("CONFIG_INVALID", `not an address: ${String(options.address).slice(0, 64)}`);
    }
    const provider = "provider" in options.runner && options.runner.provider !== null ? options.runner.provider : (options.runner as Provider);
    const code = await provider.getCode(address).catch((e: unknown) => {
      throw chainError("reading the subscriptions contract", e);
    });
    if (code === "0x") throw new OracleSdkError("CONFIG_INVALID", `no contract at ${address}`);
    return new SubscriptionClient(address, options.runner);
  }

  /** What subscribing costs: maxDeliveries x (perDeliveryFee + keeperReward). */
  static prepayment(o: Pick<SubscribeOptions, "maxDeliveries" | "perDeliveryFee" | "keeperReward">): bigint {
    return BigInt(o.maxDeliveries) * (o.perDeliveryFee + (o.keeperReward ?? 0n));
  }

  /** The callbackGasLimit each round's oracle request asks for (price its gas into perDeliveryFee). */
  async requestGasLimit(callbackGasLimit: number): Promise<number> {
    return Number(await this.subs.requestGasLimit(callbackGasLimit));
  }

  /** Opens a subscription, prepaying every round; returns its id. */
  async subscribe(o: SubscribeOptions): Promise<{ subId: bigint; txHash: Hex; paid: bigint; tokens?: bigint }> {
    const consumer = o.consumer ?? ZeroAddress;
    const fromConsumer = o.input === "consumer";
    if (!Number.isInteger(o.maxDeliveries) || o.maxDeliveries < 1 || o.maxDeliveries > 0xffffffff) {
      throw new OracleSdkError("INPUT_INVALID", `maxDeliveries must be an integer in 1..4294967295, not ${o.maxDeliveries}`);
    }
    if (!Number.isInteger(o.interval) || o.interval < 1 || o.interval > 0xffffffff) {
      throw new OracleSdkError("INPUT_INVALID", `interval must be an integer in 1..4294967295, not ${o.interval}`);
    }
    if (fromConsumer && consumer === ZeroAddress) throw new OracleSdkError("INPUT_INVALID", 'input "consumer" needs a consumer contract');
    const params = {
      modelHash: o.modelHash,
      tier: o.tier ?? Tier.NONE,
      consumer,
      interval: o.interval,
      intervalIsBlocks: o.intervalIsBlocks ?? false,
      maxDeliveries: o.maxDeliveries,
      perDeliveryFee: o.perDeliveryFee,
      keeperReward: o.keeperReward ?? 0n,
      callbackGasLimit: o.callbackGasLimit ?? (consumer === ZeroAddress ? 0 : 150_000),
      deliveryWindow: o.deliveryWindow ?? 3600,
      inputFromConsumer: fromConsumer,
      inputHash: fromConsumer ? ZeroHash : (o.input as { inputHash: string }).inputHash,
      inputURI: fromConsumer ? "" : (o.input as { inputURI: string }).inputURI,
    };
    if (o.token !== undefined) return this.subscribeWithToken(params, o.token);
    const paid = SubscriptionClient.prepayment(o);
    const receipt = await this.tx("subscribe", () => this.subs.subscribe(params, { value: paid }));
    const ev = this.parse(receipt.logs).find((e) => e.name === "Subscribed");
    return { subId: ev!.args.subId as bigint, txHash: receipt.hash as Hex, paid };
  }

  /** subscribeWithToken: `paid` is the wei (callback fees + rewards), `tokens` the token prepayment. */
  private async subscribeWithToken(
    params: Parameters<InferenceSubscriptions["subscribe"]>[0] & { maxDeliveries: number; perDeliveryFee: bigint; keeperReward: bigint; callbackGasLimit: number },
    token: NonNullable<SubscribeOptions["token"]>,
  ): Promise<{ subId: bigint; txHash: Hex; paid: bigint; tokens: bigint }> {
    const signer = this.runner as Signer;
    if (!("sendTransaction" in this.runner) || signer.provider === null) throw new OracleSdkError("CONFIG_INVALID", "subscribe needs a Signer with a provider");
    const provider = signer.provider;
    let callbackFee = token.callbackFee;
    if (callbackFee === undefined) {
      const oracle = IInferenceOracle__factory.connect(await this.subs.oracle(), provider);
      const price = await callbackGasPrice(provider, (await oracle.params()).minGasPrice);
      callbackFee = BigInt(await this.requestGasLimit(params.callbackGasLimit)) * price * 2n;
    }
    const n = BigInt(params.maxDeliveries);
    const tokens = n * params.perDeliveryFee;
    const paid = n * (callbackFee + params.keeperReward);
    const permit = await tokenPermitOrApprove(signer, token, this.address, tokens, await permitDeadline(provider));
    const receipt = await this.tx("subscribeWithToken", () => this.subs.subscribeWithToken(params, getAddress(token.address), callbackFee, permit, { value: paid }));
    const ev = this.parse(receipt.logs).find((e) => e.name === "Subscribed");
    return { subId: ev!.args.subId as bigint, txHash: receipt.hash as Hex, paid, tokens };
  }

  /** Settles a refunded round the oracle's push did not (a token round's tokens, a failed push); anyone may. */
  async sync(requestId: string): Promise<{ txHash: Hex }> {
    const receipt = await this.tx("sync", () => this.subs.sync(requestId));
    return { txHash: receipt.hash as Hex };
  }

  /** Cancels (owner only); returns what was refunded now. Rounds in flight refund later into `withdraw`. */
  async cancel(subId: bigint): Promise<{ txHash: Hex; refunded: bigint; pending: number }> {
    const receipt = await this.tx("cancel", () => this.subs.cancel(subId));
    const ev = this.parse(receipt.logs).find((e) => e.name === "SubscriptionCancelled");
    return { txHash: receipt.hash as Hex, refunded: ev!.args.refunded as bigint, pending: Number(ev!.args.pending) };
  }

  /** Takes a closed subscription's balance (refunds of rounds that were in flight). */
  async withdraw(subId: bigint): Promise<{ txHash: Hex; amount: bigint }> {
    const receipt = await this.tx("withdraw", () => this.subs.withdraw(subId));
    const ev = this.parse(receipt.logs).find((e) => e.name === "SubscriptionWithdrawn");
    return { txHash: receipt.hash as Hex, amount: (ev?.args.amount as bigint | undefined) ?? 0n };
  }

  /** Triggers a due round (as a keeper); returns the request id, or null when the round was skipped. */
  async trigger(subId: bigint): Promise<{ txHash: Hex; requestId: Hex | null }> {
    const receipt = await this.tx("trigger", () => this.subs.trigger(subId));
    const ev = this.parse(receipt.logs).find((e) => e.name === "RoundTriggered");
    return { txHash: receipt.hash as Hex, requestId: (ev?.args.requestId as Hex | undefined) ?? null };
  }

  async get(subId: bigint): Promise<SubscriptionInfo> {
    let s: Awaited<ReturnType<InferenceSubscriptions["getSubscription"]>>;
    try {
      s = await this.subs.getSubscription(subId);
    } catch (error) {
      throw this.error("reading the subscription", error);
    }
    if (s.owner === ZeroAddress) throw new OracleSdkError("REQUEST_NOT_FOUND", `no subscription ${subId}`);
    const finished = s.triggered >= s.maxDeliveries;
    return {
      subId,
      owner: s.owner,
      consumer: s.consumer,
      modelHash: s.modelHash as Hex,
      tier: Number(s.tier) as Tier,
      interval: Number(s.interval),
      intervalIsBlocks: s.intervalIsBlocks,
      maxDeliveries: Number(s.maxDeliveries),
      triggered: Number(s.triggered),
      fulfilled: Number(s.fulfilled),
      refunded: Number(s.refunded),
      skipped: Number(s.skipped),
      pending: Number(s.pending),
      perDeliveryFee: s.perDeliveryFee,
      keeperReward: s.keeperReward,
      balance: s.balance,
      nextDue: s.nextDue,
      cancelled: s.cancelled,
      state: s.cancelled ? "cancelled" : finished ? "finished" : "open",
      inputFromConsumer: s.inputFromConsumer,
      inputHash: s.inputHash as Hex,
      inputURI: s.inputURI,
      ...(s.token === ZeroAddress ? {} : { token: { address: s.token, callbackFee: s.callbackFee, balance: s.tokenBalance } }),
    };
  }

  /** Every round made so far, with its request and kept outputHash. */
  async rounds(subId: bigint): Promise<RoundInfo[]> {
    const s = await this.get(subId);
    const out: RoundInfo[] = [];
    for (let round = 0; round < s.triggered; round++) {
      const requestId = (await this.subs.requestOf(subId, round)) as Hex;
      if (requestId === ZeroHash) {
        out.push({ round, requestId: null, status: "none", outputHash: null });
        continue;
      }
      const d = await this.subs.getDelivery(requestId);
      const outputHash = (await this.subs.outputOf(subId, round)) as Hex;
      out.push({ round, requestId, status: STATUS[Number(d.status)]!, outputHash: outputHash === ZeroHash ? null : outputHash });
    }
    return out;
  }

  /** Subscriptions (of `owner`, or everyone's), newest last. */
  async list(options: { owner?: string; fromBlock?: number } = {}): Promise<SubscriptionInfo[]> {
    const filter = this.subs.filters.Subscribed(undefined, options.owner === undefined ? undefined : getAddress(options.owner));
    let events: Awaited<ReturnType<InferenceSubscriptions["queryFilter"]>>;
    try {
      events = await this.subs.queryFilter(filter, options.fromBlock ?? 0);
    } catch (error) {
      throw chainError("listing subscriptions", error);
    }
    const out: SubscriptionInfo[] = [];
    for (const e of events) out.push(await this.get((e as unknown as { args: { subId: bigint } }).args.subId));
    return out;
  }

  /** Keeper rewards owed to `keeper`. */
  async rewardsOf(keeper: string): Promise<bigint> {
    return this.subs.rewardsOf(keeper);
  }

  private parse(logs: readonly { topics: readonly string[]; data: string; address: string }[]) {
    const out: { name: string; args: Record<string, unknown> }[] = [];
    for (const log of logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue;
      const parsed = SUBS_INTERFACE.parseLog({ topics: [...log.topics], data: log.data });
      if (parsed !== null) out.push({ name: parsed.name, args: parsed.args as unknown as Record<string, unknown> });
    }
    return out;
  }

  private async tx(what: string, send: () => Promise<{ wait(): Promise<unknown> }>) {
    if (!("sendTransaction" in this.runner)) throw new OracleSdkError("CONFIG_INVALID", `${what} needs a Signer, not a Provider`);
    try {
      const tx = await send();
      const receipt = (await tx.wait()) as { hash: string; logs: readonly { topics: readonly string[]; data: string; address: string }[] } | null;
      if (receipt === null) throw new OracleSdkError("CHAIN_UNAVAILABLE", `${what}: no receipt`);
      return receipt;
    } catch (error) {
      throw this.error(what, error);
    }
  }

  /** A revert decoded by the subscriptions contract's errors (SubsNotDue, SubsNotOwner...), else chainError. */
  private error(what: string, error: unknown): OracleSdkError {
    if (error instanceof OracleSdkError) return error;
    const data = revertData(error);
    if (data !== undefined) {
      try {
        const parsed = SUBS_INTERFACE.parseError(data);
        if (parsed !== null) {
          const args = parsed.fragment.inputs.map((input, i) => `${input.name || i}=${String(parsed.args[i])}`).join(", ");
          return new OracleSdkError("TX_REVERTED", `${what} reverted: ${parsed.name}(${args})`, {
            details: { revert: parsed.name, args: parsed.args.map(String) },
            cause: error,
          });
        }
      } catch {
        // not the subscriptions contract's error
      }
    }
    return chainError(what, error);
  }
}
