/**
 * ERC-20 fees (IOracleTokenFees, TokenFees; docs/FEATURES.md "ERC-20 fees"): requests paid in a token the
 * model's owner accepts, with an EIP-2612 permit in the same transaction; payouts (owner fee, relayer and
 * worker cuts) to (account, token) pull balances; the callback's gas in wei; refunds of every path
 * credited in the token by claimTokenRefund; and what is refused. Real EVM, real OpenZeppelin tokens.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import {
  deploy, deployToken, acceptToken, expectRevert, events, tokenRequest, requestParams, request, send, submission, rejection, record, now,
  PARAMS, Refund, Ruling, Status, Tier, MODEL_HASH, INPUT, OUTPUT, OUTPUT_HASH, TOKEN_FEE, TOKEN_OWNER_FEE, TOKEN_MIN_WORKER_FEE,
  type Connection, type Fx,
} from "./helpers.js";
import { signPermit, encodePermit, tensorHashParts, packBatch } from "../../protocol/index.js";

const BPS = 10_000n;
const RELAYER_CUT = ((TOKEN_FEE - TOKEN_OWNER_FEE) * BigInt(PARAMS.relayerFeeBps)) / BPS;
const WORKER_CUT = TOKEN_FEE - TOKEN_OWNER_FEE - RELAYER_CUT;

describe("InferenceOracle: fees in ERC-20 tokens", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  const tb = (fx: Fx, who: string, token: any) => fx.oracle.tokenBalanceOf(who, token.target);

  async function expectPaidOut(fx: Fx, token: any, worker: string) {
    expect(await tb(fx, fx.modelOwner.address, token)).toBe(TOKEN_OWNER_FEE);
    expect(await tb(fx, fx.relayer.address, token)).toBe(RELAYER_CUT);
    expect(await tb(fx, worker, token)).toBe(WORKER_CUT);
    // Nothing in wei for anyone: the fee was all in the token.
    for (const a of [fx.modelOwner.address, fx.relayer.address, worker]) expect(await fx.oracle.balanceOf(a)).toBe(0n);
  }

  it("test_tokenRequest_permitInOneTransaction_noneTier_paysEachPartyInToken", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const deadline = (await now(fx)) + 3600n;
    const permit = await signPermit(fx.requester, token.target, fx.oracleAddr, TOKEN_FEE, deadline);
    const before = await token.balanceOf(fx.requester.address);
    const { id, receipt } = await tokenRequest(fx, token, { tier: Tier.NONE, permit: encodePermit(permit) });
    expect(await token.allowance(fx.requester.address, fx.oracleAddr)).toBe(0n); // the permit was spent exactly
    expect(before - (await token.balanceOf(fx.requester.address))).toBe(TOKEN_FEE);
    const [esc] = events(receipt, fx.oracle, "TokenFeeEscrowed");
    expect([esc!.args.token, esc!.args.amount, esc!.args.ownerFee]).toEqual([token.target, TOKEN_FEE, TOKEN_OWNER_FEE]);
    const [req] = events(receipt, fx.oracle, "InferenceRequested");
    expect(req!.args.fee).toBe(0n); // no wei escrowed: no callback
    const r = await fx.oracle.getRequest(id);
    expect([r.fee, r.ownerFee]).toEqual([0n, TOKEN_OWNER_FEE]);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    await expectPaidOut(fx, token, fx.ops[0]!.address);
    expect(await token.balanceOf(fx.oracleAddr)).toBe(TOKEN_FEE);
    // Withdrawals empty the oracle's token balance exactly.
    for (const who of [fx.modelOwner, fx.relayer, fx.ops[0]!]) {
      const owed = await tb(fx, who.address, token);
      const rc = await send(fx.oracle.connect(who).withdrawToken(token.target));
      expect(events(rc, fx.oracle, "TokenWithdrawn")[0]!.args.amount).toBe(owed);
      expect(await token.balanceOf(who.address)).toBe(owed);
    }
    expect(await token.balanceOf(fx.oracleAddr)).toBe(0n);
    await expectRevert(fx.oracle.connect(fx.relayer).withdrawToken(token.target), fx.oracle, "OracleNothingToWithdraw", [fx.relayer.address]);
  });

  it("test_tokenRequest_optimisticWithCallback_settlesInToken_callbackGasInWei", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const consumer: any = await fx.ethers.deployContract("TokenFeeDApp", [fx.oracleAddr, token.target, MODEL_HASH, Tier.OPTIMISTIC, 200_000]);
    const gasPrice = BigInt(PARAMS.minGasPrice) > (await fx.ethers.provider.getBlock("latest"))!.baseFeePerGas! ? BigInt(PARAMS.minGasPrice) : (await fx.ethers.provider.getBlock("latest"))!.baseFeePerGas!;
    const value = 200_000n * gasPrice * 2n; // a margin over the basefee of the next block
    const deadline = (await now(fx)) + 3600n;
    const permit = await signPermit(fx.requester, token.target, consumer.target, TOKEN_FEE, deadline);
    const p = await requestParams(fx, {});
    const rc = await send(consumer.connect(fx.requester).requestWithPermit(
      { inputHash: p.inputHash, input: p.input, inputURI: p.inputURI, deadline: p.deadline }, TOKEN_FEE,
      { deadline, v: permit.v, r: permit.r, s: permit.s }, { value },
    ));
    const id = events(rc, fx.oracle, "InferenceRequested")[0]!.args.requestId;
    expect((await fx.oracle.getRequest(id)).callbackFee).toBe(value);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!, { output: OUTPUT }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: record(fx.ops[1]!.address, fx.relayer.address), output: OUTPUT, proof: [] }));
    const a = await consumer.answer(id);
    expect([a.received, a.outputHash]).toEqual([true, OUTPUT_HASH]);
    await expectPaidOut(fx, token, fx.ops[1]!.address);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(value); // the settler ran the callback
  });

  it("test_tokenFeeDApp_refundedRequest_userGetsTokensAndCallbackWeiBack", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const consumer: any = await fx.ethers.deployContract("TokenFeeDApp", [fx.oracleAddr, token.target, MODEL_HASH, Tier.OPTIMISTIC, 100_000]);
    const value = 100_000n * BigInt(PARAMS.minGasPrice) * 10n;
    const deadline = (await now(fx)) + 600n;
    const permit = await signPermit(fx.requester, token.target, consumer.target, TOKEN_FEE, deadline);
    const p = await requestParams(fx, { deadline });
    const start = await token.balanceOf(fx.requester.address);
    const rc = await send(consumer.connect(fx.requester).requestWithPermit(
      { inputHash: p.inputHash, input: p.input, inputURI: p.inputURI, deadline }, TOKEN_FEE, { deadline, v: permit.v, r: permit.r, s: permit.s }, { value },
    ));
    const id = events(rc, fx.oracle, "InferenceRequested")[0]!.args.requestId;
    await expectRevert(consumer.claimRefund(id), consumer, "TokenFeeDAppNoRefund", [id]);
    await conn.networkHelpers.time.increase(601);
    await send(fx.oracle.refundExpired([id]));
    expect(await consumer.refundDue(id)).toBe(true);
    const weiBefore = await fx.ethers.provider.getBalance(fx.requester.address);
    await send(consumer.connect(fx.other).claimRefund(id)); // anyone; the user is paid
    expect(await token.balanceOf(fx.requester.address)).toBe(start);
    expect((await fx.ethers.provider.getBalance(fx.requester.address)) - weiBefore).toBe(value);
    expect(await token.balanceOf(consumer.target)).toBe(0n);
    await expectRevert(consumer.claimRefund(id), consumer, "TokenFeeDAppNoRefund", [id]);
  });

  it("test_tokenRequest_refused_notAccepted_tooLow_callbackFee_badPermit", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const other = await deployToken(fx, "TestPermitToken", false);
    await expectRevert(tokenRequest(fx, other), fx.oracle, "OracleTokenNotAccepted", [MODEL_HASH, other.target]);
    await expectRevert(tokenRequest(fx, token, { amount: TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE - 1n }), fx.oracle, "OracleFeeTooLow", [TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE - 1n, TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE]);
    await expectRevert(tokenRequest(fx, token, { amount: 1n << 96n }), fx.oracle, "OracleFeeTooHigh", [1n << 96n]);
    // A callback's gas is paid in wei; wei without a callback is refused (nothing would pay it out).
    await expectRevert(tokenRequest(fx, token, { callbackGasLimit: 100_000 }), fx.oracle, "OracleTokenCallbackFee");
    await expectRevert(tokenRequest(fx, token, { value: 1n }), fx.oracle, "OracleTokenCallbackFee", [1n, 0n]);
    // A permit that fails with no allowance behind it (the approvals of the refused requests above are reset).
    await send(token.connect(fx.requester).approve(fx.oracleAddr, 0n));
    const deadline = (await now(fx)) + 3600n;
    const permit = await signPermit(fx.requester, token.target, fx.oracleAddr, TOKEN_FEE, deadline);
    await expectRevert(tokenRequest(fx, token, { permit: encodePermit({ ...permit, value: TOKEN_FEE + 1n }) }), fx.oracle, "OracleTokenPermitFailed", [token.target, 0n, TOKEN_FEE]);
    // The zero address / an EOA can never be accepted.
    await expectRevert(fx.registry.connect(fx.modelOwner).setTokenTerms(MODEL_HASH, ZeroAddress, { accepted: true, ownerFee: 0, minWorkerFee: 0 }), fx.registry, "RegistryTokenInvalid", [ZeroAddress]);
    await expectRevert(fx.registry.connect(fx.modelOwner).setTokenTerms(MODEL_HASH, fx.other.address, { accepted: true, ownerFee: 0, minWorkerFee: 0 }), fx.registry, "RegistryTokenInvalid", [fx.other.address]);
    await expectRevert(fx.registry.connect(fx.other).setTokenTerms(MODEL_HASH, token.target, { accepted: true, ownerFee: 0, minWorkerFee: 0 }), fx.registry, "RegistryNotModelOwner");
    // Everything a request checks still applies (deadline, input).
    await expectRevert(tokenRequest(fx, token, { deadline: 1n }), fx.oracle, "OracleDeadlineInvalid");
  });

  it("test_tokenRequest_usdtLikeNoBoolToken_works", async () => {
    const fx = await fixture();
    const token = await deployToken(fx, "NoBoolToken");
    const { id } = await tokenRequest(fx, token, { tier: Tier.NONE });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[2]!))));
    await expectPaidOut(fx, token, fx.ops[2]!.address);
    await send(fx.oracle.connect(fx.modelOwner).withdrawToken(token.target));
    expect(await token.balanceOf(fx.modelOwner.address)).toBe(TOKEN_OWNER_FEE);
  });

  async function expectTokenRefund(fx: Fx, token: any, id: string, reason: number, rc: any, wei = 0n) {
    const [ref] = events(rc, fx.oracle, "RequestRefunded");
    expect([ref!.args.reason, ref!.args.amount]).toEqual([BigInt(reason), 0n]);
    const before = await fx.oracle.balanceOf(fx.requester.address);
    const claim = await send(fx.oracle.connect(fx.other).claimTokenRefund(id)); // anyone may claim; it goes to the requester
    const [c] = events(claim, fx.oracle, "TokenRefundClaimed");
    expect([c!.args.requester, c!.args.token, c!.args.amount, c!.args.callbackFee]).toEqual([fx.requester.address, token.target, TOKEN_FEE, wei]);
    expect(await tb(fx, fx.requester.address, token)).toBe(TOKEN_FEE);
    expect((await fx.oracle.balanceOf(fx.requester.address)) - before).toBe(wei);
    await expectRevert(fx.oracle.claimTokenRefund(id), fx.oracle, "OracleNoTokenRefund", [id]);
    await send(fx.oracle.connect(fx.requester).withdrawToken(token.target));
  }

  it("test_tokenRefund_expired_rejected_cancelled_inputTypeMismatch_creditRequesterInToken", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const start = await token.balanceOf(fx.requester.address);
    // Expired.
    const { id: a } = await tokenRequest(fx, token, { deadline: (await now(fx)) + 100n });
    await conn.networkHelpers.time.increase(101);
    await expectTokenRefund(fx, token, a, Refund.Expired, await send(fx.oracle.refundExpired([a])));
    // Rejected by a quorum of workers.
    const { id: b } = await tokenRequest(fx, token);
    await send(fx.oracle.connect(fx.relayer).rejectRequest(b, 1, await rejection(fx, b, fx.signers[0]!)));
    await expectTokenRefund(fx, token, b, Refund.RejectedByWorker, await send(fx.oracle.connect(fx.relayer).rejectRequest(b, 1, await rejection(fx, b, fx.signers[1]!))));
    // Cancelled by its requester once a worker rejected it.
    const { id: c } = await tokenRequest(fx, token);
    await send(fx.oracle.connect(fx.relayer).rejectRequest(c, 1, await rejection(fx, c, fx.signers[0]!)));
    await expectTokenRefund(fx, token, c, Refund.CancelledByRequester, await send(fx.oracle.connect(fx.requester).cancelRequest(c)));
    expect(await token.balanceOf(fx.requester.address)).toBe(start);
    expect(await token.balanceOf(fx.oracleAddr)).toBe(0n);
    // Input of the wrong type, proved by one worker: refunded at once.
    const { id: e } = await tokenRequest(fx, token);
    const { header, dataRoot } = tensorHashParts(INPUT);
    await expectTokenRefund(fx, token, e, Refund.InputTypeMismatch, await send(fx.oracle.connect(fx.relayer).rejectRequestWithProof(e, 2, await rejection(fx, e, fx.signers[2]!, 2), header, dataRoot)));
    expect(await token.balanceOf(fx.requester.address)).toBe(start);
    // A request paid in wei has no token refund to claim.
    const { id: d } = await request(fx, { deadline: (await now(fx)) + 100n });
    await conn.networkHelpers.time.increase(101);
    await send(fx.oracle.refundExpired([d]));
    await expectRevert(fx.oracle.claimTokenRefund(d), fx.oracle, "OracleNoTokenRefund", [d]);
  });

  it("test_tokenRequest_workerFault_reopensThenPaysTheNextWorker_afterDeadlineRefunds", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const bond = PARAMS.challengeBond;
    // WorkerFault before the deadline: reopened, the next worker is paid in the token.
    const { id } = await tokenRequest(fx, token);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))));
    await send(fx.oracle.connect(fx.challenger).challenge(id, record(fx.ops[0]!.address, fx.relayer.address), [], { value: bond }));
    await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await send(fx.oracle.settle({ requestId: id, record: record(fx.ops[1]!.address, fx.relayer.address), output: "0x", proof: [] }));
    await expectPaidOut(fx, token, fx.ops[1]!.address);
    expect(await tb(fx, fx.ops[0]!.address, token)).toBe(0n); // the slashed worker earns nothing
    // The slash is in wei (stake), whatever the fee token.
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).stake).toBe(2n * 10n ** 18n - PARAMS.resultBond);
    // OutputMinor: penalty in wei, the request reopens, its token fee stays escrowed for the next worker.
    const { id: m } = await tokenRequest(fx, token);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, m, fx.signers[2]!))));
    await send(fx.oracle.connect(fx.challenger).challenge(m, record(fx.ops[2]!.address, fx.relayer.address), [], { value: bond }));
    await send(fx.resolver.connect(fx.arbiter).rule(m, Ruling.OutputMinor));
    expect(await fx.oracle.state(m)).toBe(BigInt(Status.Requested));
    expect(await tb(fx, fx.ops[2]!.address, token)).toBe(0n);
    // WorkerFault after the deadline: refunded in the token.
    const { id: late } = await tokenRequest(fx, token, { deadline: (await now(fx)) + 600n });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, late, fx.signers[1]!))));
    await send(fx.oracle.connect(fx.challenger).challenge(late, record(fx.ops[1]!.address, fx.relayer.address), [], { value: bond }));
    await conn.networkHelpers.time.increase(601);
    const rc = await send(fx.resolver.connect(fx.arbiter).rule(late, Ruling.WorkerFault));
    await expectTokenRefund(fx, token, late, Refund.WorkerFaultAfterDeadline, rc);
  });

  it("test_tokenTerms_ownerRemovesOrRepricesMidRequest_requestKeepsItsTerms", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const { id } = await tokenRequest(fx, token, { tier: Tier.NONE });
    await acceptToken(fx, token.target, TOKEN_FEE, 0n); // repriced: the owner would take everything
    await acceptToken(fx, token.target, 0n, 0n, false); // then removed
    expect((await fx.registry.tokenTerms(MODEL_HASH, token.target)).accepted).toBe(false);
    await expectRevert(tokenRequest(fx, token), fx.oracle, "OracleTokenNotAccepted", [MODEL_HASH, token.target]);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))));
    await expectPaidOut(fx, token, fx.ops[0]!.address);
  });
});
