/**
 * Fixtures of the token-paid subscriptions and chains (InferenceSubscriptions.subscribeWithToken,
 * ChainedInference.requestChainWith; docs/FEATURES.md "ERC-20 fees across features"), shared by
 * test/contracts/*-token.test.ts and test/attacks/*-token.test.ts: a token the models accept, a token
 * subscribe wrapper, a token chain wrapper and the token books of both contracts.
 */
import { expect } from "vitest";
import type { Signer } from "ethers";
import { events, send, MODEL_HASH, TOKEN_FEE, TOKEN_MIN_WORKER_FEE, TOKEN_OWNER_FEE, type Connection, type Fx } from "./helpers.js";
import { deploySubs, subParams, CALLBACK_GAS, type SubOpts, type SubsFx } from "./subscriptions-helpers.js";
import { chainRequest, deployChained, MNIST_HASH, PRE_HASH, SMOOTH_HASH, type ChainFx } from "./chained-fixture.js";

/** Wei sent with each token round for its callback (requestGasLimit(CALLBACK_GAS) at 2 gwei: above the 1 gwei floor). */
export const SUB_CALLBACK_FEE = BigInt(CALLBACK_GAS + Math.floor(CALLBACK_GAS / 63) + 80_000) * 2_000_000_000n;
/** Wei for a token chain's callbacks: generous for up to 4 steps at 2 gwei. */
export const CHAIN_CALLBACK_ESCROW = 2_000_000n * 2_000_000_000n;

/** Deploys test token `kind`, mints to the requester and other, and has `models` accept it on the default terms. */
export async function tokenFor(fx: Fx, models: string[], kind = "TestPermitToken"): Promise<any> {
  const token: any = await fx.ethers.deployContract(kind, []);
  for (const a of [fx.requester, fx.other, fx.admin]) await send(token.mint(a.address, 10n ** 12n));
  for (const m of models) {
    await send(
      fx.registry.connect(fx.modelOwner).setTokenTerms(m, token.target, { accepted: true, ownerFee: TOKEN_OWNER_FEE, minWorkerFee: TOKEN_MIN_WORKER_FEE }),
    );
  }
  return token;
}

export async function deploySubsToken(conn: Connection) {
  const fx = await deploySubs(conn);
  const token = await tokenFor(fx, [MODEL_HASH]);
  return { ...fx, token, tokenAddr: (await token.getAddress()) as string };
}
export type SubsTokenFx = Awaited<ReturnType<typeof deploySubsToken>>;

export interface TokenSubOpts extends SubOpts {
  callbackFee?: bigint;
  permit?: string;
  token?: any;
  approve?: boolean;
}

/** Token prepaid (maxDeliveries x fee) and wei prepaid (maxDeliveries x (callbackFee + reward)). */
export function tokenPrepay(p: ReturnType<typeof subParams>, callbackFee = SUB_CALLBACK_FEE): { tokens: bigint; wei: bigint } {
  const n = BigInt(p.maxDeliveries);
  return { tokens: n * p.perDeliveryFee, wei: n * (callbackFee + p.keeperReward) };
}

/** Subscribes with the token from `from` (approving first unless a permit is given); returns the id. */
export async function subscribeToken(fx: SubsTokenFx, o: TokenSubOpts = {}, from: Signer = fx.requester): Promise<bigint> {
  const p = subParams(fx as unknown as SubsFx, { fee: TOKEN_FEE, ...o });
  const token = o.token ?? fx.token;
  const callbackFee = o.callbackFee ?? SUB_CALLBACK_FEE;
  const { tokens, wei } = tokenPrepay(p, callbackFee);
  if (o.permit === undefined && o.approve !== false) await send(token.connect(from).approve(fx.subsAddr, tokens));
  const receipt = await send(fx.subs.connect(from).subscribeWithToken(p, await token.getAddress(), callbackFee, o.permit ?? "0x", { value: wei }));
  return events(receipt, fx.subs, "Subscribed")[0]!.args.subId as bigint;
}

/** Token books of the subscriptions contract: token held == Σ tokenBalance + unattributedToken. */
export async function expectSubsTokenBooks(fx: SubsTokenFx, subIds: bigint[], token: any = fx.token): Promise<void> {
  let owed: bigint = await fx.subs.unattributedToken(token.target);
  for (const id of subIds) {
    const s = await fx.subs.getSubscription(id);
    if (s.token === token.target) owed += s.tokenBalance as bigint;
  }
  expect(await token.balanceOf(fx.subsAddr)).toBe(owed);
}

export async function deployChainedToken(conn: Connection) {
  const fx = await deployChained(conn);
  const token = await tokenFor(fx, [PRE_HASH, MNIST_HASH, SMOOTH_HASH]);
  return { ...fx, token, tokenAddr: (await token.getAddress()) as string };
}
export type ChainTokenFx = Awaited<ReturnType<typeof deployChainedToken>>;

/** Requests a token chain over `steps` ([modelHash, tier, token fee]) from `from`; returns its id and step 0's request. */
export async function requestTokenChain(
  fx: ChainTokenFx,
  steps: Array<[string, number, bigint]>,
  o: Parameters<typeof chainRequest>[2] & { from?: any; value?: bigint; token?: any; permit?: string; approve?: boolean } = {},
) {
  const req = await chainRequest(fx, steps, o);
  const from = o.from ?? fx.requester;
  const token = o.token ?? fx.token;
  const total = steps.reduce((a, s) => a + s[2], 0n);
  if (o.permit === undefined && o.approve !== false) await send(token.connect(from).approve(fx.chainedAddr, total));
  const receipt = await send(
    fx.chained.connect(from).requestChainWith(req, await token.getAddress(), o.permit ?? "0x", { value: o.value ?? CHAIN_CALLBACK_ESCROW }),
  );
  const [ev] = events(receipt, fx.chained, "ChainStepRequested");
  const [rq] = events(receipt, fx.chained, "ChainRequested");
  return { chainId: rq!.args.chainId as bigint, requestId: ev!.args.requestId as string, receipt };
}
