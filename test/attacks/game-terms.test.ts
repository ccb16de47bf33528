/**
 * Issue 11, scenario 6 (live model parameters) on the FraudGame path. Before: the model owner could change the
 * commitment root and the trace count at any time, so owner + sock slashed honest workers (a fake root for one
 * weight; a trace count of n + 1). Now a model's canonical terms (commitment, programRoot, weightsRoot, precision,
 * step count, τ_out, τ_major) are set once and every move of the game reads them: with a dispute open on an honest
 * result, the owner cannot loosen τ, change the step count or point the commitment at other weights (each
 * `setCanonicalTerms` reverts RegistryCanonicalTermsAlreadySet), and the honest worker's game still rules
 * WorkerRight; the exact output still records nothing.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep } from "../../canonical/index.js";
import { encodeTensor } from "../../protocol/index.js";
import { expectRevert } from "../contracts/helpers.js";
import { chunkProofOf, programPathOf } from "./game-proof-helpers.js";
import { clsWorld, commit, deployGame, MOVE_CLOCK, openDispute, RULING, type ClsWorld, type Connection } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
});

describe("attack: the model owner moves the canonical terms under an open dispute (issue 11 scenario 6)", () => {
  it("test_setCanonicalTerms_underOpenDispute_reverts_gameRulesOnTheOriginalTerms", async () => {
    const fx = await deployGame(conn, world);
    const [, owner] = await fx.ethers.getSigners();
    const b = world.honest;
    const { requestId } = await openDispute(fx, world, b.tensors[b.n - 1]!);
    await commit(fx, requestId, b);
    const before = await fx.registry.canonicalTerms(world.modelHash);
    const t = world.terms as unknown as Record<string, unknown>;
    const tweaks = [
      { ...t, stepCount: Number(t.stepCount) + 1 },
      { ...t, weightsRoot: `0x${"ab".repeat(32)}` },
      { ...t, tauOutAbs: t.tauMajorAbs, tauMajorAbs: t.tauMajorAbs },
      t,
    ];
    for (const terms of tweaks) {
      await expectRevert(fx.registry.connect(owner).setCanonicalTerms(world.modelHash, terms), fx.registry, "RegistryCanonicalTermsAlreadySet");
    }
    const after = await fx.registry.canonicalTerms(world.modelHash);
    expect(after.commitment).toBe(before.commitment);
    expect(after.stepCount).toBe(before.stepCount);
    expect(after.tauOutAbs).toBe(before.tauOutAbs);
    const out = encodeTensor(b.tensors[b.n - 1]!);
    await expectRevert(
      fx.game.connect(fx.challenger).proveOutput(requestId, 0, chunkProofOf(out, 0, []), chunkProofOf(out, 0, []), encodeStep(world.program.steps[b.n - 1]!), programPathOf(world, b.n - 1)),
      fx.game,
      "FraudGameNoFault",
    );
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await fx.game.resolve(requestId);
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerRight);
  }, 300_000);
});
