/**
 * Issue 12, finding 4 ("parameters that move"). Before: relayerFeeBps was read at settlement and
 * challengeBond at challenge time, setParams applied at once and the admin role moved in one step, so
 * the admin could raise the relayer fee to 100 % after a worker accepted a request (and pay itself as
 * the relayer), or price challengers out of a pending result.
 * Now: params are versioned, a change waits `paramsDelay` and applies to new requests only, and the
 * owner role moves in two steps (Ownable2Step). Each test plays the attacker on the real contracts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, expectRevert, events, request, requestAndSubmit, send, ETH, FEE, MODEL_FEE, PARAMS, type Connection,
} from "../contracts/helpers.js";

describe("attack: parameters that move under a request (finding 4)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_settle_adminRaisesRelayerFeeAfterAccept_workerStillPaidAtRequestTerms_succeeds", async () => {
    const fx = await fixture();
    // The worker accepts (submits) a request made under relayerFeeBps = 10 %.
    const { id, rec } = await requestAndSubmit(fx, 0);
    // The admin moves the relayer fee to 100 % and makes itself the relayer of later results; even once
    // the delay has passed, the pending request keeps its own terms.
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, relayerFeeBps: 10_000, challengeBond: 50n * ETH });
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    expect((await fx.oracle.params()).relayerFeeBps).toBe(10_000n);
    const receipt = await send(fx.oracle.connect(fx.admin).settle({ requestId: id, record: rec, output: "0x", proof: [] }));
    const credits = new Map(events(receipt, fx.oracle, "BalanceCredited").map((e) => [e.args.account as string, e.args.amount as bigint]));
    const rest = FEE - MODEL_FEE;
    const relayerCut = (rest * BigInt(PARAMS.relayerFeeBps)) / 10_000n;
    expect(credits.get(fx.ops[0]!.address)).toBe(rest - relayerCut);
    expect(credits.get(fx.relayer.address)).toBe(relayerCut);
    expect(credits.has(fx.admin.address)).toBe(false);
  });

  it("test_challenge_adminRaisesBondAfterSubmission_oldBondStillOpensDispute_succeeds", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    // A 50 ETH challenge bond, scheduled with a zero delay would still wait the CURRENT version's delay.
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, challengeBond: 50n * ETH, paramsDelay: 0 });
    expect((await fx.oracle.params()).challengeBond).toBe(PARAMS.challengeBond);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow - 10);
    await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    expect((await fx.oracle.getDispute(id, 0)).bond).toBe(PARAMS.challengeBond);
  });

  it("test_requestInference_madeBeforeChangeTakesEffect_keepsOldVersion_succeeds", async () => {
    const fx = await fixture();
    const receipt = await send(fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, relayerFeeBps: 10_000 }));
    const effectiveAt: bigint = events(receipt, fx.oracle, "ParamsScheduled")[0]!.args.effectiveAt;
    // Requests made while the change is pending, even in the last second before it applies, keep version 1.
    const { id: early } = await request(fx);
    await conn.networkHelpers.time.setNextBlockTimestamp(effectiveAt - 1n);
    const { id: late } = await request(fx);
    const { id: after } = await request(fx);
    expect((await fx.oracle.getRequest(early)).paramsVersion).toBe(1n);
    expect((await fx.oracle.getRequest(late)).paramsVersion).toBe(1n);
    expect((await fx.oracle.getRequest(after)).paramsVersion).toBe(2n);
  });

  it("test_transferOwnership_toWrongAddress_ownerKeepsControl_succeeds", async () => {
    const fx = await fixture();
    // A typo'd (or hostile) new owner gets nothing until it accepts; the owner can re-point it.
    await send(fx.oracle.connect(fx.admin).transferOwnership(fx.other.address));
    await expectRevert(fx.oracle.connect(fx.other).scheduleParams(PARAMS), fx.oracle, "OwnableUnauthorizedAccount", [fx.other.address]);
    await send(fx.oracle.connect(fx.admin).transferOwnership(fx.admin.address));
    await expectRevert(fx.oracle.connect(fx.other).acceptOwnership(), fx.oracle, "OwnableUnauthorizedAccount", [fx.other.address]);
    expect(await fx.oracle.owner()).toBe(fx.admin.address);
  });
});
