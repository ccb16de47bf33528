/**
 * Open disputes (docs/V2.md §5, issue 11): the ways to steal, censor, grief or escape around joining a
 * dispute, each shown to fail, on the real oracle and ArbiterResolver:
 * - the worker's own operator or signer key opens or joins (to take its own slash back): refused;
 * - a joiner shortens the window (rules, applies the default early, or moves the deadline by joining):
 *   refused, and joins move nothing; a join that raced a ruling cannot land on the next result's dispute;
 * - a joiner claims twice, or someone who never joined claims, or a claim on a dispute the worker won:
 *   refused;
 * - WorkerRight with N joiners: every wei of the N bonds goes to the worker or is burned;
 * - the owner changes a model's commitment root or trace count under open results (scenario 6): refused.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroHash } from "ethers";
import {
  deploy, expectRevert, events, requestAndSubmit, send, modelInfo, ETH, PARAMS, RULE_WITHIN, Ruling, Status, type Connection, type Fx,
} from "../contracts/helpers.js";
import { packBatch } from "../../protocol/index.js";

const BOND = PARAMS.challengeBond;
const BPS = 10_000n;

describe("attack: open disputes", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  /** `n` distinct funded challengers (fresh keys), none of them the worker's. */
  async function challengers(fx: Fx, n: number) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const w = (await import("ethers")).Wallet.createRandom().connect(fx.ethers.provider);
      await conn.networkHelpers.setBalance(w.address, ETH);
      out.push(w);
    }
    return out;
  }

  it("test_challenge_workerOperatorOrSignerOpensOrJoins_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const signer = fx.signers[0]!.connect(fx.ethers.provider);
    await conn.networkHelpers.setBalance(signer.address, ETH);
    // Neither can open ...
    await expectRevert(fx.oracle.connect(fx.ops[0]).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    await expectRevert(fx.oracle.connect(signer).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    // ... nor join one someone else opened.
    await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: BOND }));
    await expectRevert(fx.oracle.connect(fx.ops[0]).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    await expectRevert(fx.oracle.connect(signer).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    expect((await fx.oracle.getDispute(id, 0)).joiners).toBe(1n);
    // A rotated-in signer key is the worker's too.
    const fresh = (await import("ethers")).Wallet.createRandom().connect(fx.ethers.provider);
    await conn.networkHelpers.setBalance(fresh.address, ETH);
    await send(fx.oracle.connect(fx.ops[0]).setSigner(fresh.address));
    await expectRevert(fx.oracle.connect(fresh).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
  });

  it("test_join_cannotShortenOrExtendTheWindow_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: BOND }));
    const deadline = (await fx.oracle.getDispute(id, 0)).deadline;
    const joiners = await challengers(fx, 3);
    for (const j of joiners) {
      await conn.networkHelpers.time.increase(RULE_WITHIN / 4);
      await send(fx.oracle.connect(j).challenge(id, rec, [], { value: BOND }));
      expect((await fx.oracle.getDispute(id, 0)).deadline).toBe(deadline);
      expect((await fx.oracle.getRequest(id)).timeout).toBe(deadline);
      // A joiner is not the resolver, and the default waits for the deadline.
      await expectRevert(fx.oracle.connect(j).resolveDispute(id, Ruling.WorkerRight), fx.oracle, "OracleNotResolver");
      await expectRevert(fx.oracle.connect(j).resolveDisputeByDefault(id), fx.oracle, "OracleDeadlineNotReached", [id, deadline]);
    }
    // Joining again is refused (one bond, one share), and so is a late join.
    await expectRevert(fx.oracle.connect(joiners[0]!).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleAlreadyJoined", [id, joiners[0]!.address]);
    await conn.networkHelpers.time.increaseTo(deadline);
    const late = (await challengers(fx, 1))[0]!;
    await expectRevert(fx.oracle.connect(late).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleDeadlinePassed", [id, deadline]);
    await send(fx.oracle.resolveDisputeByDefault(id));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
  });

  it("test_join_racingARuling_cannotLandOnTheNextResultsDispute_reverts", async () => {
    const fx = await fixture();
    const a = await requestAndSubmit(fx, 0);
    await send(fx.oracle.connect(fx.challenger).challenge(a.id, a.rec, [], { value: BOND }));
    await send(fx.resolver.connect(fx.arbiter).rule(a.id, Ruling.WorkerFault));
    // The request reopened; another worker's (honest) result is disputed by someone.
    const { submission, record } = await import("../contracts/helpers.js");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, a.id, fx.signers[1]!))));
    const b = record(fx.ops[1]!.address, fx.relayer.address);
    await send(fx.oracle.connect(fx.other).challenge(a.id, b, [], { value: BOND }));
    // A join meant for the first result's dispute arrives late: it does not join the second one.
    const late = (await challengers(fx, 1))[0]!;
    await expectRevert(fx.oracle.connect(late).challenge(a.id, a.rec, [], { value: BOND }), fx.oracle, "OracleResultRecordMismatch", [a.id]);
    expect((await fx.oracle.getDispute(a.id, 1)).joiners).toBe(1n);
  });

  it("test_claimDispute_twiceOrByOutsiderOrAfterWorkerRight_reverts", async () => {
    const fx = await fixture();
    const a = await requestAndSubmit(fx, 0);
    await send(fx.oracle.connect(fx.challenger).challenge(a.id, a.rec, [], { value: BOND }));
    // Nothing to claim while open.
    await expectRevert(fx.oracle.connect(fx.challenger).claimDispute(a.id, 0), fx.oracle, "OracleNothingToClaim", [a.id, 0, fx.challenger.address]);
    await send(fx.resolver.connect(fx.arbiter).rule(a.id, Ruling.WorkerFault));
    await send(fx.oracle.connect(fx.challenger).claimDispute(a.id, 0));
    await expectRevert(fx.oracle.connect(fx.challenger).claimDispute(a.id, 0), fx.oracle, "OracleNothingToClaim", [a.id, 0, fx.challenger.address]);
    await expectRevert(fx.oracle.connect(fx.other).claimDispute(a.id, 0), fx.oracle, "OracleNothingToClaim", [a.id, 0, fx.other.address]);
    // The worker won the next one: its challengers have nothing to claim.
    const b = await requestAndSubmit(fx, 1);
    await send(fx.oracle.connect(fx.challenger).challenge(b.id, b.rec, [], { value: BOND }));
    await send(fx.resolver.connect(fx.arbiter).rule(b.id, Ruling.WorkerRight));
    await expectRevert(fx.oracle.connect(fx.challenger).claimDispute(b.id, 0), fx.oracle, "OracleNothingToClaim", [b.id, 0, fx.challenger.address]);
  });

  it("test_workerRight_nJoiners_everyBondToWorkerOrBurned_conserves", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 1);
    const joiners = await challengers(fx, 7);
    const oracleBefore = await fx.ethers.provider.getBalance(fx.oracleAddr);
    for (const j of joiners) await send(fx.oracle.connect(j).challenge(id, rec, [], { value: BOND }));
    const n = BigInt(joiners.length);
    expect(await fx.ethers.provider.getBalance(fx.oracleAddr)).toBe(oracleBefore + n * BOND);
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerRight));
    const burned = n * ((BOND * BigInt(PARAMS.burnBps)) / BPS);
    expect(events(receipt, fx.oracle, "DisputeResolved")[0]!.args.burned).toBe(burned);
    expect(await fx.oracle.totalBurned()).toBe(burned);
    expect(await fx.oracle.balanceOf(fx.ops[1]!.address)).toBe(n * BOND - burned);
    // Every joiner's bond is accounted for: the worker withdraws its part, the burn stays for ever.
    await send(fx.oracle.connect(fx.ops[1]).withdraw());
    expect(await fx.ethers.provider.getBalance(fx.oracleAddr)).toBe(oracleBefore + burned);
    for (const j of joiners) await expectRevert(fx.oracle.connect(j).claimDispute(id, 0), fx.oracle, "OracleNothingToClaim");
  });

  it("test_modelOwner_changesCommitmentRoot_reverts (scenario 6)", async () => {
    const fx = await fixture();
    const root = "0x" + "ab".repeat(32);
    const model = "0x" + "12".repeat(32);
    const resolver = await fx.resolver.getAddress();
    const info = (o: Record<string, unknown>) => modelInfo({ tiers: 3, resolver, ...o });
    await send(fx.registry.connect(fx.modelOwner).registerModel(model, info({ commitmentRoot: root })));
    // A fake root (owner + sock slashing honest workers) is refused; repeating the root is fine.
    await expectRevert(
      fx.registry.connect(fx.modelOwner).updateModel(model, info({ commitmentRoot: "0x" + "cd".repeat(32) })),
      fx.registry, "RegistryCommitmentAlreadySet", [model, root],
    );
    await expectRevert(fx.registry.connect(fx.modelOwner).updateModel(model, info({ commitmentRoot: ZeroHash })), fx.registry, "RegistryCommitmentAlreadySet", [model, root]);
    await send(fx.registry.connect(fx.modelOwner).updateModel(model, info({ commitmentRoot: root, fee: 7n })));
    expect((await fx.registry.model(model)).commitmentRoot).toBe(root);
    // A model registered without a root gets one later, once.
    const late = "0x" + "34".repeat(32);
    await send(fx.registry.connect(fx.modelOwner).registerModel(late, info({})));
    await send(fx.registry.connect(fx.modelOwner).updateModel(late, info({ commitmentRoot: root })));
    await expectRevert(fx.registry.connect(fx.modelOwner).updateModel(late, info({ commitmentRoot: "0x" + "ef".repeat(32) })), fx.registry, "RegistryCommitmentAlreadySet", [late, root]);
  });
});
