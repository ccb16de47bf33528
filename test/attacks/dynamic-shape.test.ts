/**
 * Issue 11, scenario 9 (dynamic dimensions). Before: a spec dimension of 0 was not tied to the commitment's
 * reference shape, so an honest result at another width was "proven" a type fault by anyone. Now OPTIMISTIC terms
 * exist only at one static input shape (docs/V2.md §2; docs/OPTIMISTIC.md "Checking a model"):
 * - `oracle model check` / `model register` refuse OPTIMISTIC for a model whose input has a symbolic dimension
 *   (the PP-OCR classifier's [N,3,H,W]) unless `--input-shape` commits to one, and then lower every node at it;
 * - the registered input spec is that static shape, so a worker refuses an input of another width before running
 *   it (TENSOR_SPEC_MISMATCH: a signed rejection, which the oracle refunds at once with the type-mismatch proof,
 *   test/attacks/oracle-rejection-proof-replay.test.ts): no OPTIMISTIC result exists at another shape to dispute;
 * - on the FraudGame, an operand proof of the model input must carry the committed input header: the input of
 *   another width cannot stand in for it (FraudGameBadProof(17)), so no proof is built on a shape the commitment
 *   does not name.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePartial, encodeStep, partialStates, reduceTerms } from "../../canonical/index.js";
import { merklePath, sha256, bytesToHex, checkSpec, hashTensor, OracleError } from "../../protocol/index.js";
import { checkModel } from "../../cli/check.js";
import { uniformTensor } from "../canonical/helpers.js";
import { expectRevert } from "../contracts/helpers.js";
import { operandProofsOf, programPathOf, readerOf } from "./game-proof-helpers.js";
import { answer, clsWorld, CLS_PATH, CLS_SHAPE, commit, deployGame, levelsOf, openDispute, pathTo, type ClsWorld, type Connection } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
});

describe("attack: an input of another shape than the committed one (issue 11 scenario 9)", () => {
  it("test_symbolicInputDimension_optimisticRefusedUnlessAShapeIsCommitted", async () => {
    const dynamic = await checkModel(CLS_PATH, { calibrate: false });
    expect(dynamic.input.static).toBe(false);
    expect(dynamic.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(dynamic.verdicts.OPTIMISTIC.reasons.join("\n")).toMatch(/is not static: give --input-shape/);
    expect(dynamic.canonicalTerms).toBeNull();
    const fixed = await checkModel(CLS_PATH, { calibrate: false, inputShape: CLS_SHAPE });
    expect(fixed.input.shape).toEqual(CLS_SHAPE);
    expect(fixed.nodes.unsupported).toBe(0);
    expect(fixed.verdicts.OPTIMISTIC.allowed).toBe(true);
  }, 300_000);

  it("test_inputOfAnotherWidth_workerRefusesIt_andNoGameProofAcceptsIt", async () => {
    // The registered spec is the committed static shape: a worker refuses a narrower input before running it.
    const spec = { dtype: "float32" as const, shape: CLS_SHAPE };
    const narrow = uniformTensor([1, 3, 48, 96], 5);
    expect(() => checkSpec(narrow, spec, "input")).toThrow(OracleError);
    try {
      checkSpec(narrow, spec, "input");
    } catch (e) {
      expect((e as OracleError).code).toBe("TENSOR_SPEC_MISMATCH");
    }
    expect(() => checkSpec(world.input, spec, "input")).not.toThrow();

    // A dispute whose request names the narrow input (as if a worker had answered it): a proof that reads the model
    // input with the narrow tensor's header (which does hash to the request's inputHash) is refused.
    const fx = await deployGame(conn, { ...world, input: narrow });
    const { requestId, ctx } = await openDispute(fx, { ...world, input: narrow }, world.honest.tensors[world.honest.n - 1]!);
    expect(ctx.inputHash).toBe(hashTensor(narrow));
    await commit(fx, requestId, world.honest);
    // cls reads its input only in its first Conv (step 0, a reduce): attack element 0 there, let the worker reveal its
    // partial tree, then prove the first term against the narrow input. Its header is not the committed input type.
    const conv = world.program.steps[0]!;
    expect(conv.operands.some((o) => o.source === "input")).toBe(true);
    for (const pos of pathTo(world.honest, 0, 0)) {
      await fx.game.connect(fx.challenger).attack(requestId, pos);
      await answer(fx, requestId, world.honest, pos);
    }
    const enc = encodeStep(conv);
    await fx.game.connect(fx.challenger).attackElement(requestId, 0, 0, enc, programPathOf(world, 0));
    const r = reduceTerms(conv, readerOf(world, world.honest, conv), 0, "fp32");
    const states = partialStates(r);
    const K = r.terms.length;
    const leaves = states.map((x) => sha256(Buffer.from([0]), encodePartial(x)));
    const levels = levelsOf(leaves);
    await fx.game.answerElement(requestId, 0, 0, enc, world.honest.chunk(0, 0), bytesToHex(levels[levels.length - 1]![0]!), bytesToHex(encodePartial(states[K]!)), merklePath(leaves, K).map(bytesToHex));
    // The first term that reads the input (element 0 sits in the padded corner: some terms read padding only).
    let t = 0;
    let reads: { operand: bigint; index: bigint }[] = [];
    while (!reads.some((x) => conv.operands[Number(x.operand)]!.source === "input")) {
      t += 1;
      expect(t).toBeLessThanOrEqual(K);
      reads = [...(await fx.verifier.contract.termReads(enc, 0, t - 1))].map((x: any) => ({ operand: x.operand as bigint, index: x.index as bigint }));
    }
    const prove = (input: typeof narrow) =>
      fx.game.connect(fx.challenger).proveFold(requestId, 0, 0, enc, t, bytesToHex(encodePartial(states[t - 1]!)), merklePath(leaves, t - 1).map(bytesToHex), bytesToHex(leaves[t]!), merklePath(leaves, t).map(bytesToHex), operandProofsOf({ ...world, input }, conv, reads, world.honest));
    // The narrow input hashes to the request's inputHash, but its header is not the committed [1,3,48,192]: refused.
    await expectRevert(prove(narrow), fx.game, "FraudGameBadProof", [17n]);
    // The committed-shape input is not this request's input: refused too.
    await expectRevert(prove(world.input), fx.game, "FraudGameBadProof", [16n]);
  }, 300_000);
});
