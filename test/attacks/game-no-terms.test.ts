/**
 * A model whose resolver is the FraudGame but whose canonical terms were never set (issue 11; found by the
 * scenario audit). Before: the oracle took OPTIMISTIC requests on it, and every challenge of their results
 * reverted (`RegistryCanonicalTermsNotSet` when the game read the terms), so a wrong result settled
 * unchallenged: a model owner could register with the game, never set terms, and serve anything.
 * Now: the oracle asks the request's resolver `canDispute(modelHash)` when the request is made and refuses
 * with `OracleModelNotDisputable` until the terms are set; NONE requests are unaffected. A resolver that
 * reverts on the question (an approved contract that is no v2 resolver), or an account without code, cannot dispute either.
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { commitProgram, canonicalTermsOf, lowerModel } from "../../canonical/index.js";
import { DEFAULT_GAME_TIMES } from "../../protocol/index.js";
import { deploy, events, expectRevert, modelInfo, request, send, MODEL_HASH, Tier, type Connection, type Fx } from "../contracts/helpers.js";

let conn: Connection;
beforeAll(async () => {
  conn = await network.create();
});

/** The contracts of test/contracts/helpers.ts, with the model's resolver switched to a real FraudGame. */
async function withGame(): Promise<Fx & { game: any }> {
  const fx = await deploy(conn, { game: DEFAULT_GAME_TIMES });
  const game = fx.game;
  await send(fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ resolver: await game.getAddress(), zkVerifier: await fx.zk.getAddress() })));
  return { ...fx, game };
}

/** Consistent canonical terms (MNIST's program: the registry checks the commitment against its parts). */
function terms() {
  const program = lowerModel(readFileSync("models/mnist-mlp.onnx"));
  return canonicalTermsOf(commitProgram(program, "fp32"), { outAbs: 1e-5, outRel: 1e-3, majorAbs: 1e-2, majorRel: 0.1 });
}

describe("attack: OPTIMISTIC results on a game model without canonical terms", () => {
  it("test_request_gameModelWithoutTerms_refused_untilTermsSet", async () => {
    const fx = await withGame();
    const game = await fx.game.getAddress();
    expect(await fx.game.canDispute(MODEL_HASH)).toBe(false);
    await expectRevert(request(fx), fx.oracle, "OracleModelNotDisputable", [MODEL_HASH, game]);
    // NONE needs no dispute: still served.
    const { id: none } = await request(fx, { tier: Tier.NONE });
    expect((await fx.oracle.getRequest(none)).tier).toBe(BigInt(Tier.NONE));
    // Once the owner sets the terms, OPTIMISTIC requests are taken, with the game fixed as their resolver.
    await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(MODEL_HASH, terms()));
    expect(await fx.game.canDispute(MODEL_HASH)).toBe(true);
    const { id, receipt } = await request(fx);
    expect(events(receipt, fx.oracle, "InferenceRequested")).toHaveLength(1);
    expect((await fx.oracle.getRequest(id)).resolver).toBe(game);
  }, 120_000);

  it("test_request_resolverThatCannotAnswer_refused", async () => {
    const fx = await deploy(conn);
    // A careless registry admin approves a contract that is no v2 resolver (the zk verifier): the question
    // reverts inside it, which the oracle reads as "cannot dispute".
    const notAResolver = await fx.zk.getAddress();
    await send(fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ resolver: notAResolver, zkVerifier: notAResolver })));
    await expectRevert(request(fx), fx.oracle, "OracleModelNotDisputable", [MODEL_HASH, notAResolver]);
    // Nor an account without code (a plain address approved as a resolver): nothing could open a dispute there.
    const eoa = fx.other.address;
    await send(fx.registry.connect(fx.admin).setResolverApproval(eoa, true));
    await send(fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ resolver: eoa, zkVerifier: notAResolver })));
    await expectRevert(request(fx), fx.oracle, "OracleModelNotDisputable", [MODEL_HASH, eoa]);
    // The arbiter answers for any model (a trusted party: it needs nothing from the model).
    expect(await fx.resolver.canDispute(MODEL_HASH)).toBe(true);
  });
});
