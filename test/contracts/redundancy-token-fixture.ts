/**
 * Fixture of the token-paid redundancy tests (RedundantInference.requestWithToken; docs/FEATURES.md
 * "ERC-20 fees across features"), shared by test/contracts/redundancy-token.test.ts and
 * test/attacks/redundancy-token.test.ts: the redundancy deployment with a token MODEL_HASH accepts, a
 * token job request, and the contract's books (what it holds against what it owes).
 */
import { expect } from "vitest";
import { events, send, MODEL_HASH, TOKEN_FEE, type Connection } from "./helpers.js";
import { deployRedundant, jobRequest, type RFx } from "./redundancy-fixture.js";
import { tokenFor } from "./token-features-helpers.js";

/** Wei each token answer's callback is paid: the oracle's gas limit for ANSWER_CALLBACK_GAS at 2 gwei (above the 1 gwei floor). */
export const RED_CALLBACK_FEE = BigInt(80_000 + Math.floor(80_000 / 63) + 80_000) * 2_000_000_000n;

export async function deployRedundantToken(conn: Connection) {
  const fx = await deployRedundant(conn);
  const token = await tokenFor(fx, [MODEL_HASH]);
  return { ...fx, token, tokenAddr: (await token.getAddress()) as string };
}
export type RTokenFx = Awaited<ReturnType<typeof deployRedundantToken>>;

export interface TokenJobOpts {
  k?: number;
  reserve?: number;
  fee?: bigint;
  deadline?: bigint;
  attestReward?: bigint;
  callbackFee?: bigint;
  token?: any;
  permit?: string;
  approve?: boolean;
  from?: any;
}

/** Tokens ((k + reserve) x fee) and wei ((k + reserve) x callbackFee + (k + reserve + 1) x attestReward) a token job pays. */
export function tokenJobPrepay(r: { k: number; reserve: number; fee: bigint; attestReward: bigint }, callbackFee = RED_CALLBACK_FEE) {
  const n = BigInt(r.k + r.reserve);
  return { tokens: n * r.fee, wei: n * callbackFee + (n + 1n) * r.attestReward };
}

/** Requests a token job from `from` (approving first unless a permit is given); returns its id, request ids and what it paid. */
export async function requestTokenJob(fx: RTokenFx, o: TokenJobOpts = {}) {
  const r = await jobRequest(fx, { fee: TOKEN_FEE, ...o });
  const from = o.from ?? fx.requester;
  const token = o.token ?? fx.token;
  const callbackFee = o.callbackFee ?? RED_CALLBACK_FEE;
  const paid = tokenJobPrepay(r, callbackFee);
  if (o.permit === undefined && o.approve !== false) await send(token.connect(from).approve(fx.redundantAddr, paid.tokens));
  const receipt = await send(fx.redundant.connect(from).requestWithToken(r, await token.getAddress(), callbackFee, o.permit ?? "0x", { value: paid.wei }));
  const [ev] = events(receipt, fx.redundant, "JobRequested");
  const ids = events(receipt, fx.redundant, "AnswerRequested").map((e) => e.args.requestId as string);
  return { jobId: ev!.args.jobId as bigint, ids, receipt, ...paid };
}

/** The contract's books: it holds at least the token and wei it owes its accounts (`accounts`: every credited one). */
export async function expectRedundantBooks(fx: RTokenFx, accounts: string[], token: any = fx.token): Promise<void> {
  let tokens = 0n;
  let wei = 0n;
  for (const a of accounts) {
    tokens += (await fx.redundant.tokenBalanceOf(a, token.target)) as bigint;
    wei += (await fx.redundant.balanceOf(a)) as bigint;
  }
  expect(await token.balanceOf(fx.redundantAddr)).toBeGreaterThanOrEqual(tokens);
  expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBeGreaterThanOrEqual(wei);
}
