/**
 * Issue 12, finding 5 ("resolver read live"). Before: the oracle looked the model's resolver up in the
 * registry when a challenge came, so revoking the resolver (registry admin) or switching it (model
 * owner) made every pending OPTIMISTIC result unchallengeable, while new results were still accepted.
 * Now: each OPTIMISTIC request stores its resolver when it is made; a revocation or a switch blocks
 * new requests only.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import {
  deploy, expectRevert, events, request, requestAndSubmit, send, modelInfo, MODEL_HASH, PARAMS, RULE_WITHIN, Ruling, Tier, type Connection,
} from "../contracts/helpers.js";

describe("attack: resolver read live (finding 5)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_challenge_resolverRevokedAfterSubmission_pendingResultStillDisputable_succeeds", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const resolver = await fx.resolver.getAddress();
    expect((await fx.oracle.getRequest(id)).resolver).toBe(resolver);
    await fx.registry.connect(fx.admin).setResolverApproval(resolver, false);
    // New OPTIMISTIC requests are refused ...
    await expectRevert(request(fx), fx.oracle, "OracleTierUnsupported", [MODEL_HASH, Tier.OPTIMISTIC]);
    // ... but the pending result can still be challenged, before the resolver fixed at request time,
    // and a wrong result is still slashed.
    const receipt = await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    expect(events(receipt, fx.oracle, "ChallengeOpened")).toHaveLength(1);
    expect((await fx.oracle.getDispute(id, 0)).resolver).toBe(resolver);
    const ruled = await send(fx.resolver.connect(fx.arbiter).rule(id, 2 /* Ruling.WorkerFault */));
    expect(events(ruled, fx.oracle, "WorkerSlashed")[0]!.args.operator).toBe(fx.ops[0]!.address);
  });

  it("test_challenge_modelOwnerSwitchesResolver_disputeGoesToRequestTimeResolver_succeeds", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const original = await fx.resolver.getAddress();
    // The model owner points the model at a resolver it controls outright (an arbiter contract it rules
    // itself, approved by a careless registry admin) and tries to rule the pending dispute in the worker's favour.
    const own: any = await fx.ethers.deployContract("ArbiterResolver", [fx.oracleAddr, fx.modelOwner.address, RULE_WITHIN, Ruling.WorkerRight]);
    const captured: string = await own.getAddress();
    await fx.registry.connect(fx.admin).setResolverApproval(captured, true);
    await fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ resolver: captured, zkVerifier: await fx.zk.getAddress() }));
    await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    expect((await fx.oracle.getDispute(id, 0)).resolver).toBe(original);
    // Its resolver never saw the dispute, and the owner itself is not the dispute's resolver either.
    await expectRevert(own.connect(fx.modelOwner).rule(id, Ruling.WorkerRight), own, "ArbiterUnknownDispute", [id]);
    await expectRevert(fx.oracle.connect(fx.modelOwner).resolveDispute(id, Ruling.WorkerRight), fx.oracle, "OracleNotResolver", [id, fx.modelOwner.address, original]);
    // A new request gets the new resolver.
    const { id: next } = await request(fx);
    expect((await fx.oracle.getRequest(next)).resolver).toBe(captured);
    // NONE requests have no resolver.
    const { id: none } = await request(fx, { tier: Tier.NONE });
    expect((await fx.oracle.getRequest(none)).resolver).toBe(ZeroAddress);
  });
});
