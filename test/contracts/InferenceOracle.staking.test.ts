import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import { deploy, expectRevert, events, requestAndSubmit, send, signerWallet, now, ETH, PARAMS, type Connection } from "./helpers.js";

describe("InferenceOracle: staking", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_registerWorker_valid_succeeds", async () => {
    const fx = await fixture();
    const s = signerWallet(9);
    const receipt = await send(fx.oracle.connect(fx.other).registerWorker(s.address, { value: ETH }));
    const [ev] = events(receipt, fx.oracle, "WorkerRegistered");
    expect(ev!.args.operator).toBe(fx.other.address);
    expect(ev!.args.signer).toBe(s.address);
    expect(ev!.args.stake).toBe(ETH);
    expect(await fx.oracle.operatorOf(s.address)).toBe(fx.other.address);
    const w = await fx.oracle.getWorker(fx.other.address);
    expect(w.signer).toBe(s.address);
    expect(w.stake).toBe(ETH);
  });

  it("test_registerWorker_invalid_reverts", async () => {
    const fx = await fixture();
    const s = signerWallet(9);
    await expectRevert(fx.oracle.connect(fx.other).registerWorker(s.address, { value: ETH - 1n }), fx.oracle, "StakeBelowMinimum", [fx.other.address, ETH - 1n, ETH]);
    await expectRevert(fx.oracle.connect(fx.other).registerWorker(fx.signers[0]!.address, { value: ETH }), fx.oracle, "StakeSignerInUse", [fx.signers[0]!.address]);
    await expectRevert(fx.oracle.connect(fx.other).registerWorker(ZeroAddress, { value: ETH }), fx.oracle, "StakeSignerInUse", [ZeroAddress]);
    await expectRevert(fx.oracle.connect(fx.ops[0]).registerWorker(s.address, { value: ETH }), fx.oracle, "StakeWorkerAlreadyRegistered", [fx.ops[0]!.address]);
  });

  it("test_addStake_registered_succeeds", async () => {
    const fx = await fixture();
    await expectRevert(fx.oracle.connect(fx.other).addStake({ value: ETH }), fx.oracle, "StakeWorkerNotRegistered", [fx.other.address]);
    const receipt = await send(fx.oracle.connect(fx.ops[0]).addStake({ value: ETH }));
    const [ev] = events(receipt, fx.oracle, "StakeAdded");
    expect(ev!.args.amount).toBe(ETH);
    expect(ev!.args.stake).toBe(3n * ETH);
  });

  it("test_setSigner_rotates", async () => {
    const fx = await fixture();
    const s = signerWallet(9);
    await expectRevert(fx.oracle.connect(fx.other).setSigner(s.address), fx.oracle, "StakeWorkerNotRegistered");
    await expectRevert(fx.oracle.connect(fx.ops[0]).setSigner(fx.signers[1]!.address), fx.oracle, "StakeSignerInUse");
    const receipt = await send(fx.oracle.connect(fx.ops[0]).setSigner(s.address));
    const [ev] = events(receipt, fx.oracle, "SignerChanged");
    expect(ev!.args.previousSigner).toBe(fx.signers[0]!.address);
    expect(ev!.args.newSigner).toBe(s.address);
    expect(await fx.oracle.operatorOf(fx.signers[0]!.address)).toBe(ZeroAddress);
    expect(await fx.oracle.operatorOf(s.address)).toBe(fx.ops[0]!.address);
    // The old key is free again.
    await fx.oracle.connect(fx.other).registerWorker(fx.signers[0]!.address, { value: ETH });
  });

  it("test_requestUnbond_lockedStake_reverts", async () => {
    const fx = await fixture();
    await requestAndSubmit(fx, 0);
    const free = 2n * ETH - PARAMS.resultBond;
    await expectRevert(fx.oracle.connect(fx.ops[0]).requestUnbond(free + 1n), fx.oracle, "StakeUnbondTooLarge", [fx.ops[0]!.address, free + 1n, free]);
    await fx.oracle.connect(fx.ops[0]).requestUnbond(free);
    await expectRevert(fx.oracle.connect(fx.ops[0]).requestUnbond(1n), fx.oracle, "StakeUnbondTooLarge", [fx.ops[0]!.address, 1n, 0n]);
    await expectRevert(fx.oracle.connect(fx.other).requestUnbond(1n), fx.oracle, "StakeWorkerNotRegistered");
  });

  it("test_withdrawStake_afterDelay_succeeds", async () => {
    const fx = await fixture();
    const op = fx.ops[1]!;
    await expectRevert(fx.oracle.connect(op).withdrawStake(), fx.oracle, "OracleNothingToWithdraw", [op.address]);
    const r1 = await send(fx.oracle.connect(op).requestUnbond(ETH / 2n));
    const readyAt1 = events(r1, fx.oracle, "UnbondRequested")[0]!.args.readyAt;
    expect(readyAt1).toBe((await now(fx)) + BigInt(PARAMS.unbondingDelay));
    await conn.networkHelpers.time.increase(PARAMS.unbondingDelay - 10);
    // A new request restarts the clock.
    await send(fx.oracle.connect(op).requestUnbond(ETH / 2n));
    const readyAt2 = (await fx.oracle.getWorker(op.address)).unbondingReadyAt;
    expect(readyAt2).toBe((await now(fx)) + BigInt(PARAMS.unbondingDelay));
    await conn.networkHelpers.time.increase(20);
    await expectRevert(fx.oracle.connect(op).withdrawStake(), fx.oracle, "StakeUnbondingNotReady", [op.address, readyAt2]);
    await conn.networkHelpers.time.increaseTo(readyAt2);
    const before = await fx.ethers.provider.getBalance(op.address);
    const receipt = await send(fx.oracle.connect(op).withdrawStake());
    expect(events(receipt, fx.oracle, "StakeWithdrawn")[0]!.args.amount).toBe(ETH);
    expect(await fx.ethers.provider.getBalance(op.address)).toBe(before + ETH - receipt.gasUsed * receipt.gasPrice);
    const w = await fx.oracle.getWorker(op.address);
    expect(w.stake).toBe(ETH);
    expect(w.unbonding).toBe(0n);
    await expectRevert(fx.oracle.connect(fx.other).withdrawStake(), fx.oracle, "StakeWorkerNotRegistered");
  });

  it("test_slash_unbondingWorker_keepsLedgerConsistent", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await fx.oracle.connect(fx.ops[0]).requestUnbond(2n * ETH - PARAMS.resultBond);
    await fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond });
    await fx.resolver.connect(fx.arbiter).rule(id, 2 /* Ruling.WorkerFault */);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.stake).toBe(2n * ETH - PARAMS.resultBond);
    expect(w.unbonding).toBe(2n * ETH - PARAMS.resultBond);
    expect(w.locked).toBe(0n);
    await conn.networkHelpers.time.increase(PARAMS.unbondingDelay);
    await fx.oracle.connect(fx.ops[0]).withdrawStake();
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).stake).toBe(0n);
  });
});
