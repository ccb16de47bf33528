/**
 * `oracle subscribe`, `oracle subscriptions` and `oracle unsubscribe`: prepaid recurring inference
 * through InferenceSubscriptions (docs/FEATURES.md, "Subscriptions"), with the SDK's SubscriptionClient.
 */
import { formatEther, isAddress, parseEther, ZeroAddress } from "ethers";
import { Tier, IModelRegistry__factory } from "../protocol/index.js";
import { OracleClient, SubscriptionClient, type SubscriptionInfo } from "../sdk/index.js";
import { cliError, context, eth, oracleCommand, output, Progress, type Context, type GlobalOptions } from "./common.js";
import { TIER_NAMES } from "./deploy.js";
import { resolveModel } from "./model.js";
import { readInputFiles } from "./request.js";

export interface SubscribeCliOptions extends GlobalOptions {
  model: string;
  rounds: string;
  every: string;
  blocks?: boolean;
  input?: string | string[];
  inputFromConsumer?: boolean;
  consumer?: string;
  callbackGas: string;
  fee?: string;
  keeperReward: string;
  window: string;
  tier: string;
  relayer?: string;
  subscriptions?: string;
  token?: string;
  tokenAmount?: string;
  permit?: boolean;
}

function subscriptionsAddress(o: { subscriptions?: string }, ctx: Context & { deployment: { subscriptions?: string | undefined } }): string {
  const address = o.subscriptions ?? ctx.deployment.subscriptions;
  if (address === undefined) {
    throw cliError("CONFIG_INVALID", `the deployment has no subscriptions contract: pass --subscriptions <address>, or redeploy with \`${oracleCommand()} deploy\` (or \`${oracleCommand()} dev --fresh\`)`);
  }
  if (!isAddress(address)) throw cliError("CONFIG_INVALID", `--subscriptions takes an address; got ${JSON.stringify(address)}`);
  return address;
}

function positiveInt(name: string, value: string, max = 0xffffffff): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw cliError("CONFIG_INVALID", `${name} takes a whole number in 1..${max}; got ${JSON.stringify(value)}`);
  return n;
}

function ether(name: string, value: string): bigint {
  try {
    const v = parseEther(value);
    if (v < 0n) throw new Error("negative");
    return v;
  } catch {
    throw cliError("CONFIG_INVALID", `${name} takes an ETH amount such as 0.01; got ${JSON.stringify(value)}`);
  }
}

export async function subscribeCommand(o: SubscribeCliOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const rounds = positiveInt("--rounds", o.rounds);
    const every = positiveInt("--every", o.every);
    const window = positiveInt("--window", o.window);
    const callbackGas = Number(o.callbackGas);
    if (!Number.isInteger(callbackGas) || callbackGas < 0) throw cliError("CONFIG_INVALID", `--callback-gas takes a whole number; got ${JSON.stringify(o.callbackGas)}`);
    const tier = TIER_NAMES[o.tier.toLowerCase()];
    if (tier === undefined) throw cliError("CONFIG_INVALID", `--tier takes one of ${Object.keys(TIER_NAMES).join(", ")}; got ${JSON.stringify(o.tier)}`);
    if (o.consumer !== undefined && !isAddress(o.consumer)) throw cliError("CONFIG_INVALID", `--consumer takes an address; got ${JSON.stringify(o.consumer)}`);
    if ((o.input === undefined) === (o.inputFromConsumer !== true)) throw cliError("CONFIG_INVALID", "give either --input <file> (every round's input) or --input-from-consumer (the consumer answers each round's input)");
    if (o.inputFromConsumer === true && o.consumer === undefined) throw cliError("CONFIG_INVALID", "--input-from-consumer needs --consumer <address>");
    if (callbackGas > 0 && o.consumer === undefined) throw cliError("CONFIG_INVALID", "--callback-gas needs --consumer <address> (without one, results are kept on-chain: outputOf)");

    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.wallet(), ...(relayerUrl === undefined ? {} : { relayerUrl }) });
    const subs = await SubscriptionClient.connect({ address: subscriptionsAddress(o, ctx), runner: ctx.wallet() });
    const model = await client.model(await resolveModel(o.model, ctx));
    // Each round's request asks for the consumer's gas plus the subscriptions contract's own handling.
    const requestGas = await subs.requestGasLimit(callbackGas);
    const quote = await client.quote(model.modelHash, requestGas);
    // Default: the minimum with the callback's gas priced twice over, so a rising basefee does not stall rounds.
    const token = o.token === undefined ? undefined : await tokenFee(o, ctx.deployment.registry, model.modelHash, ctx.provider);
    const fee = token !== undefined ? token.amount : o.fee === undefined ? quote.minimum + quote.callbackFee : ether("--fee", o.fee);
    if (token === undefined && fee < quote.minimum) throw cliError("FEE_TOO_LOW", `--fee ${formatEther(fee)} is below the oracle's minimum for a round now (${eth(quote.minimum)})`);
    const keeperReward = ether("--keeper-reward", o.keeperReward);
    let input: { inputHash: string; inputURI: string } | "consumer" = "consumer";
    if (o.input !== undefined) {
      const given = readInputFiles(o.input, model);
      if (!("input" in given)) throw cliError("INPUT_INVALID", "subscriptions take one-input models");
      const { bytes, inputHash } = await client.encodeInput(model.modelHash, given.input);
      const inputURI = await progress.step("uploading the input to the relayer's blob store", () => client.upload(bytes, inputHash));
      input = { inputHash, inputURI };
    }
    const total = SubscriptionClient.prepayment({ maxDeliveries: rounds, perDeliveryFee: fee, keeperReward });
    const prepaid = token === undefined ? eth(total) : `${BigInt(rounds) * fee} units of token ${token.address} (+ callback gas and rewards in ETH)`;
    const sent = await progress.step(`subscribing: ${rounds} rounds every ${every} ${o.blocks === true ? "blocks" : "s"}, ${prepaid} prepaid`, () =>
      subs.subscribe({
        modelHash: model.modelHash, tier: tier as Tier, maxDeliveries: rounds, interval: every, intervalIsBlocks: o.blocks === true, perDeliveryFee: fee, keeperReward,
        ...(o.consumer === undefined ? {} : { consumer: o.consumer }), callbackGasLimit: callbackGas, deliveryWindow: window, input,
        ...(token === undefined ? {} : { token: { address: token.address, permit: o.permit !== false } }),
      }),
    );
    const feeText = token === undefined ? eth(fee) : `${fee} units of token ${token.address}`;
    const tokenJson = token === undefined ? {} : { token: token.address, tokensPaid: String(sent.tokens ?? 0n) };
    output(ctx.json, { subId: sent.subId.toString(), txHash: sent.txHash, paid: sent.paid.toString(), perDeliveryFee: fee.toString(), keeperReward: keeperReward.toString(), ...tokenJson }, () => [
      `subscription ${sent.subId}: ${rounds} rounds of ${feeText} (+ ${eth(keeperReward)} keeper reward), ${eth(sent.paid)} prepaid in ETH (tx ${sent.txHash})`,
      `follow it with: ${oracleCommand()} subscriptions --id ${sent.subId}; cancel with: ${oracleCommand()} unsubscribe ${sent.subId}`,
    ]);
  } finally {
    ctx.close();
  }
}

/** The per-round fee in `--token` (--token-amount, default the model's minimum in the token). */
async function tokenFee(o: SubscribeCliOptions, registry: string, modelHash: string, provider: Parameters<typeof IModelRegistry__factory.connect>[1]) {
  if (!isAddress(o.token)) throw cliError("CONFIG_INVALID", `--token takes an address; got ${JSON.stringify(o.token)}`);
  if (o.fee !== undefined) throw cliError("CONFIG_INVALID", "--fee is the fee in ETH: with --token give --token-amount (the callback's gas is priced in ETH for you)");
  const terms = await IModelRegistry__factory.connect(registry, provider).tokenTerms(modelHash, o.token!);
  if (!terms.accepted) throw cliError("FEE_TOO_LOW", `model ${modelHash} does not accept token ${o.token} (its owner accepts one with \`${oracleCommand()} model accept-token\`)`);
  const minimum = terms.ownerFee + terms.minWorkerFee;
  if (o.tokenAmount !== undefined && !/^\d+$/.test(o.tokenAmount)) throw cliError("CONFIG_INVALID", `--token-amount takes a whole number of the token's smallest units; got ${JSON.stringify(o.tokenAmount)}`);
  const amount = o.tokenAmount === undefined ? minimum : BigInt(o.tokenAmount);
  if (amount < minimum) throw cliError("FEE_TOO_LOW", `--token-amount ${amount} is below the model's minimum in the token (${minimum})`);
  return { address: o.token!, amount };
}

function line(s: SubscriptionInfo): string {
  const unit = s.intervalIsBlocks ? "blocks" : "s";
  const tokens = s.token === undefined ? "" : ` + ${s.token.balance} units of token ${s.token.address}`;
  return `#${s.subId}  ${s.state.padEnd(9)} ${s.fulfilled}/${s.maxDeliveries} delivered (${s.pending} in flight, ${s.refunded} refunded, ${s.skipped} skipped)  every ${s.interval} ${unit}  balance ${eth(s.balance)}${tokens}  model ${s.modelHash.slice(0, 10)}…  owner ${s.owner}`;
}

const plain = (s: SubscriptionInfo) => JSON.parse(JSON.stringify(s, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as unknown;

export async function subscriptionsCommand(o: GlobalOptions & { subscriptions?: string; owner?: string; all?: boolean; id?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const subs = await SubscriptionClient.connect({ address: subscriptionsAddress(o, ctx), runner: ctx.provider });
    if (o.id !== undefined) {
      const id = BigInt(positiveInt("--id", o.id, Number.MAX_SAFE_INTEGER));
      const s = await subs.get(id);
      const rounds = await subs.rounds(id);
      output(ctx.json, { subscription: plain(s), rounds }, () => [
        line(s),
        ...(s.consumer === ZeroAddress ? [] : [`consumer ${s.consumer}`]),
        ...rounds.map((r) => `  round ${r.round}: ${r.status}${r.requestId === null ? "" : ` request ${r.requestId}`}${r.outputHash === null ? "" : ` output ${r.outputHash}`}`),
      ]);
      return;
    }
    const owner = o.all === true ? undefined : (o.owner ?? (o.key !== undefined || process.env.ORACLE_KEY !== undefined ? ctx.wallet().address : undefined));
    const list = await subs.list({ ...(owner === undefined ? {} : { owner }), fromBlock: ctx.deployment.deployBlock });
    output(ctx.json, { subscriptions: list.map(plain) }, () => (list.length === 0 ? [`no subscriptions${owner === undefined ? "" : ` of ${owner}`}`] : list.map(line)));
  } finally {
    ctx.close();
  }
}

export async function unsubscribeCommand(id: string, o: GlobalOptions & { subscriptions?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const subs = await SubscriptionClient.connect({ address: subscriptionsAddress(o, ctx), runner: ctx.wallet() });
    const subId = BigInt(positiveInt("<id>", id, Number.MAX_SAFE_INTEGER));
    const s = await subs.get(subId);
    if (s.state === "open") {
      const r = await subs.cancel(subId);
      output(ctx.json, { subId: id, txHash: r.txHash, refunded: r.refunded.toString(), pending: r.pending }, () => [
        `subscription ${id} cancelled: ${eth(r.refunded)} refunded now (tx ${r.txHash})`,
        ...(r.pending === 0 ? [] : [`${r.pending} round(s) still in flight: their refunds, if any, come back to the balance; take it with \`${oracleCommand()} unsubscribe ${id}\` again`]),
      ]);
    } else {
      const r = await subs.withdraw(subId);
      output(ctx.json, { subId: id, txHash: r.txHash, withdrawn: r.amount.toString() }, () => [`subscription ${id} is ${s.state}: ${eth(r.amount)} withdrawn (tx ${r.txHash})`]);
    }
  } finally {
    ctx.close();
  }
}
