/**
 * Issue 12, finding 3 ("free censorship"). Before: any worker with the minimum stake called
 * `rejectRequest` on any request with an unverifiable reason, at no risk, and the request was refunded
 * at once and never served. Now (docs/V2.md §4): a signed rejection is recorded, one per staked
 * operator; the request is refunded only when `rejectionQuorum` distinct staked operators rejected it
 * (its params version), at its deadline, or when its requester cancels it after a rejection. Until then
 * other workers may serve it. Each test plays the attacker on the real contracts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, expectRevert, events, request, rejection, send, submission, signerWallet, balance,
  FEE, PARAMS, Refund, Status, type Connection,
} from "../contracts/helpers.js";
import { packBatch } from "../../protocol/index.js";

describe("attack: free censorship by rejection (finding 3)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_rejectRequest_loneWorkerCensors_requestStaysOpenAndIsServed_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const before = await balance(fx, fx.requester.address);
    // The censor (worker 0) rejects with a reason nobody can check.
    const receipt = await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, await rejection(fx, id, fx.signers[0]!, 3)));
    expect(events(receipt, fx.oracle, "RequestRefunded")).toHaveLength(0);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect(await balance(fx, fx.requester.address)).toBe(before);
    // Rejecting again, from the same operator or through a new signer key of it, adds nothing.
    await expectRevert(fx.oracle.rejectRequest(id, 1, await rejection(fx, id, fx.signers[0]!, 1)), fx.oracle, "OracleAlreadyRejected", [id, fx.ops[0]!.address]);
    const rotated = signerWallet(40);
    await send(fx.oracle.connect(fx.ops[0]).setSigner(rotated.address));
    await expectRevert(fx.oracle.rejectRequest(id, 1, await rejection(fx, id, rotated, 1)), fx.oracle, "OracleAlreadyRejected", [id, fx.ops[0]!.address]);
    // An honest worker still serves the request.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!))));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
  });

  it("test_rejectRequest_sockQuorum_eachSockStakesMinimumForUnbondingDelay_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    // The censor controls worker 0 and wants a sock to complete the quorum of 2.
    await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, await rejection(fx, id, fx.signers[0]!, 3)));
    const sock = signerWallet(41);
    // A key that is no staked worker's signer counts nothing.
    await expectRevert(fx.oracle.rejectRequest(id, 3, await rejection(fx, id, sock, 3)), fx.oracle, "OracleUnknownSigner", [sock.address]);
    // A sock must register with the full minimum stake ...
    await expectRevert(
      fx.oracle.connect(fx.challenger).registerWorker(sock.address, { value: PARAMS.minStake - 1n }),
      fx.oracle, "StakeBelowMinimum", [fx.challenger.address, PARAMS.minStake - 1n, PARAMS.minStake],
    );
    await send(fx.oracle.connect(fx.challenger).registerWorker(sock.address, { value: PARAMS.minStake }));
    // ... and cannot take it back before its rejection counts: once unbonding, it is below the minimum.
    await send(fx.oracle.connect(fx.challenger).requestUnbond(1n));
    await expectRevert(fx.oracle.rejectRequest(id, 3, await rejection(fx, id, sock, 3)), fx.oracle, "StakeBelowMinimum", [fx.challenger.address, PARAMS.minStake - 1n, PARAMS.minStake]);
    await send(fx.oracle.connect(fx.challenger).addStake({ value: 1n }));
    // With the stake at risk the sock completes the quorum: the request is refunded (the price of
    // censoring one request is rejectionQuorum registrations of minStake each, locked for the
    // unbonding delay, see docs/SECURITY.md).
    const receipt = await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, await rejection(fx, id, sock, 3)));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.RejectedByWorker));
    // The stake stays locked up for the unbonding delay.
    await send(fx.oracle.connect(fx.challenger).requestUnbond(PARAMS.minStake));
    await expectRevert(fx.oracle.connect(fx.challenger).withdrawStake(), fx.oracle, "StakeUnbondingNotReady");
  });

  it("test_cancelRequest_onlyRequesterAfterARejection_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    // Nobody rejected it yet: not even the requester can cancel (a worker may be earning the fee).
    await expectRevert(fx.oracle.connect(fx.requester).cancelRequest(id), fx.oracle, "OracleNotRejected", [id]);
    await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, await rejection(fx, id, fx.signers[0]!, 3)));
    // Someone else cannot cancel it (neither a worker nor a stranger).
    await expectRevert(fx.oracle.connect(fx.other).cancelRequest(id), fx.oracle, "OracleNotRequester", [id, fx.other.address, fx.requester.address]);
    await expectRevert(fx.oracle.connect(fx.ops[0]).cancelRequest(id), fx.oracle, "OracleNotRequester", [id, fx.ops[0]!.address, fx.requester.address]);
    const before = await balance(fx, fx.requester.address);
    const receipt = await send(fx.oracle.connect(fx.requester).cancelRequest(id));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.CancelledByRequester));
    expect(ref!.args.amount).toBe(FEE);
    const gas = receipt.gasUsed * receipt.gasPrice;
    expect(await balance(fx, fx.requester.address)).toBe(before + FEE - gas);
    // Once: a refunded request cannot be cancelled, rejected or served again.
    await expectRevert(fx.oracle.connect(fx.requester).cancelRequest(id), fx.oracle, "UnexpectedRequestState", [id, Status.Refunded, Status.Requested]);
  });

  it("test_cancelRequest_afterResultSubmitted_reverts", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, await rejection(fx, id, fx.signers[0]!, 3)));
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!))));
    // The worker that served it keeps its fee: the requester cannot cancel a submitted result.
    await expectRevert(fx.oracle.connect(fx.requester).cancelRequest(id), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Requested]);
  });
});
