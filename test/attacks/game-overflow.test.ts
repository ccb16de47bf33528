/**
 * Issue 11, scenarios 7 and 8 (float overflow; the checker and the chain disagreeing on it), on the FraudGame path
 * with the real StepVerifier and the PP-OCR cls program run canonically on a finite but huge input (every element
 * in ±3e38, seeded).
 *
 * Before: v1's soft-float verifier ruled a claimed Inf/NaN from finite operands a fault, so requester + challenger
 * took an honest worker's bond on an overflowing Conv (scenario 7), and the TS checker called a claimed Inf a fault
 * where the chain did not, so the challenger daemon disputed honest overflows and lost its bond (scenario 8).
 *
 * Now the canonical result of the first Conv is ±Inf (binary64 partial sums, rounded to fp32 once at the end), and
 * everything downstream is whatever canonical semantics makes of it (NaN included):
 * - scenario 7: the honest worker commits that trace; a hostile joiner descends to an Inf element of the Conv,
 *   attacks the element (the worker's partial tree finalizes to Inf: accepted), and every proof against it (the
 *   last fold, the init, a non-finite map element downstream, the NaN/Inf output) reverts FraudGameNoFault; the
 *   game rules WorkerRight. A cheater that claims a finite value where canonical is non-finite is proven false.
 * - scenario 8: TypeScript's τ rule (`withinTau`, `toleranceCheck`) and the chain's (OutputTolerance.magnitude)
 *   give the same magnitude on every pair of NaN (any bits), ±Inf, the largest finite values and ordinary numbers;
 *   the challenger's audit (`auditResult`) of the honest signed output says "within" (no dispute), and so does its
 *   audit of onnxruntime's output (NaN where canonical is NaN).
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePartial, encodeStep, partialStates, reduceTerms, toleranceCheck, withinTau } from "../../canonical/index.js";
import { auditResult } from "../../challenger/index.js";
import { merklePath, sha256, bytesToHex, encodeTensor, type Tensor, type Hex } from "../../protocol/index.js";
import { expectRevert } from "../contracts/helpers.js";
import { ortRun, uniformTensor } from "../canonical/helpers.js";
import { chunkProofOf, operandProofsOf, programPathOf, readerOf } from "./game-proof-helpers.js";
import { answer, CLS_PATH, CLS_SHAPE, commit, deployGame, levelsOf, MOVE_CLOCK, openDispute, pathTo, RULING, TOL, TraceBook, TREE, withElement, worldOf, type ClsWorld, type Connection, type GameFx, type Pos } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let fx: GameFx;
const bytes = readFileSync(CLS_PATH);
beforeAll(async () => {
  conn = await network.create();
  world = worldOf(bytes, uniformTensor(CLS_SHAPE, 7, -3e38, 3e38), CLS_SHAPE);
  fx = await deployGame(conn, world);
});

const f32 = (t: Tensor) => t.data as Float32Array;
const reads = async (p: Promise<any[]>) => [...(await p)].map((r: any) => ({ operand: r.operand as bigint, index: r.index as bigint }));
/** Attacks (as `fx.challenger`) and answers every not-yet-answered node on the way to chunk c of tensor j. */
async function descendFresh(requestId: string, book: TraceBook, j: number, c: number) {
  for (const pos of pathTo(book, j, c)) {
    if (Number((await fx.game.node(requestId, pos)).state) === 3) continue;
    await fx.game.connect(fx.challenger).attack(requestId, pos);
    await answer(fx, requestId, book, pos);
  }
}

describe("attack: an honest overflow (issue 11 scenarios 7 and 8)", () => {
  it("test_hugeFiniteInput_convOverflowsToInf_honestWorkerWinsTheGame (scenario 7)", async () => {
    const b = world.honest;
    const steps = world.program.steps;
    // The input is finite; the first reduce step (a Conv) overflows fp32 in some elements.
    expect(f32(world.input).every(Number.isFinite)).toBe(true);
    const conv = steps.find((s) => s.kind === "reduce" && f32(b.tensors[s.index]!).some((v) => !Number.isFinite(v)))!;
    expect(conv.op).toBe("conv");
    const j = conv.index;
    const e = f32(b.tensors[j]!).findIndex((v) => !Number.isFinite(v));
    const out = b.tensors[b.n - 1]!;
    const nonFiniteOut = f32(out).filter((v) => !Number.isFinite(v)).length;
    console.log(`overflow: step ${j} (${conv.op}) element ${e} = ${f32(b.tensors[j]!)[e]}; ${f32(b.tensors[j]!).filter((v) => !Number.isFinite(v)).length} of ${f32(b.tensors[j]!).length} non-finite; output [${[...f32(out)]}] (${nonFiniteOut} non-finite)`);

    const { requestId } = await openDispute(fx, world, out);
    await commit(fx, requestId, b);
    // A hostile joiner descends to the Inf element and attacks it; the honest partial tree finalizes to ±Inf.
    const c = Math.floor((e * 4) / 1024);
    await descendFresh(requestId, b, j, c);
    const enc = encodeStep(conv);
    await fx.game.connect(fx.challenger).attackElement(requestId, j, e, enc, programPathOf(world, j));
    const r = reduceTerms(conv, readerOf(world, b, conv), e, "fp32");
    const K = r.terms.length;
    const states = partialStates(r);
    const leaves = states.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
    const levels = levelsOf(leaves);
    await fx.game.answerElement(requestId, j, e, enc, b.chunk(j, c), bytesToHex(levels[levels.length - 1]![0]!), bytesToHex(encodePartial(states[K]!)), merklePath(leaves, K).map(bytesToHex));
    // The last fold and the init are right: proofs revert.
    for (const t of [K, 0]) {
      const rd = t === 0 ? await reads(fx.verifier.contract.initReads(enc, e)) : await reads(fx.verifier.contract.termReads(enc, e, t - 1));
      const prev = t === 0 ? 0 : t - 1;
      await expectRevert(
        fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, t, bytesToHex(encodePartial(states[prev]!)), merklePath(leaves, prev).map(bytesToHex), bytesToHex(leaves[t]!), merklePath(leaves, t).map(bytesToHex), operandProofsOf(world, conv, rd, b)),
        fx.game,
        "FraudGameNoFault",
      );
    }
    // The first map step that reads a non-finite value and writes one: its element is right too.
    const map = steps.find((s) => s.kind === "map" && s.index > j && s.output.dtype === "float32" && f32(b.tensors[s.index]!).some((v) => !Number.isFinite(v)))!;
    const me = f32(b.tensors[map.index]!).findIndex((v) => !Number.isFinite(v));
    const menc = encodeStep(map);
    const mrd = await reads(fx.verifier.contract.reads(menc, me));
    await expectRevert(
      fx.game.connect(fx.challenger).proveStep(requestId, map.index, me, menc, programPathOf(world, map.index), chunkProofOf(encodeTensor(b.tensors[map.index]!), me, b.manifestPath(map.index)), operandProofsOf(world, map, mrd, b)),
      fx.game,
      "FraudGameNoFault",
    );
    // The signed output is the canonical one, non-finite elements included: nothing to record.
    const enco = encodeTensor(out);
    for (let k = 0; k < f32(out).length; k++) {
      await expectRevert(
        fx.game.connect(fx.challenger).proveOutput(requestId, k, chunkProofOf(enco, k, []), chunkProofOf(enco, k, []), encodeStep(steps[b.n - 1]!), programPathOf(world, b.n - 1)),
        fx.game,
        "FraudGameNoFault",
      );
    }
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await fx.game.resolve(requestId);
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerRight);
  }, 300_000);

  it("test_hugeFiniteInput_cheaterClaimsFiniteWhereCanonicalIsInf_provenFalse", async () => {
    // Non-finite is not a free pass either way: a finite value claimed where canonical is non-finite is a false step.
    const b = world.honest;
    const map = world.program.steps.find((s) => s.kind === "map" && s.output.dtype === "float32" && f32(b.tensors[s.index]!).some((v) => !Number.isFinite(v)))!;
    const me = f32(b.tensors[map.index]!).findIndex((v) => !Number.isFinite(v));
    const cheat = new TraceBook(b.tensors.map((x, i) => (i === map.index ? withElement(x, me, 3.4e38) : x)));
    const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
    await commit(fx, requestId, cheat);
    const menc = encodeStep(map);
    const mrd = await reads(fx.verifier.contract.reads(menc, me));
    await fx.game.connect(fx.challenger).proveStep(requestId, map.index, me, menc, programPathOf(world, map.index), chunkProofOf(encodeTensor(cheat.tensors[map.index]!), me, cheat.manifestPath(map.index)), operandProofsOf(world, map, mrd, cheat));
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerFault);
  }, 300_000);

  it("test_tauRule_tsAndChainAgreeOnNaNAndInf_daemonNeverDisputesAnHonestOverflow (scenario 8)", async () => {
    const tol: any = await conn.ethers.getContractAt("OutputTolerance", await fx.game.tolerance());
    const bits = (x: number) => {
      const v = new DataView(new ArrayBuffer(8));
      v.setFloat64(0, x);
      return v.getBigUint64(0);
    };
    const nanBits = [0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff0000000000001n, 0xfff4000000000000n];
    const values = [Number.NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1.7976931348623157e308, 0, -0, 0.5, 0.5 + 5e-6, 0.5 + 5e-3, 0.5 + 0.5, 1e-30];
    const t = world.terms;
    const tauOut = { abs: TOL.outAbs, rel: TOL.outRel };
    const tauMajor = { abs: TOL.majorAbs, rel: TOL.majorRel };
    let pairs = 0;
    for (const w of values) {
      for (const c of values) {
        const ts = withinTau(w, c, tauOut) ? 0 : withinTau(w, c, tauMajor) ? 1 : 2;
        const wb = Number.isNaN(w) ? nanBits : [bits(w)];
        const cb = Number.isNaN(c) ? nanBits : [bits(c)];
        for (const x of wb) {
          for (const y of cb) {
            const chain = Number(await tol.magnitude(1, x, y, t.tauOutAbs, t.tauOutRel, t.tauMajorAbs, t.tauMajorRel));
            expect(chain, `w ${w} (${x.toString(16)}) c ${c} (${y.toString(16)})`).toBe(ts);
            pairs++;
          }
        }
      }
    }
    // The challenger's audit of the honest output on the huge input: within τ_out, no dispute.
    const out = world.honest.tensors[world.honest.n - 1]!;
    const target = { requestId: `0x${"11".repeat(32)}` as Hex, model: { key: "cls", bytes, inputShape: CLS_SHAPE }, precision: "fp32" as const, tau: tauOut, input: world.input };
    const honestAudit = auditResult({ ...target, output: out }, { secret: Buffer.alloc(32, 1), fraction: 1 });
    expect(honestAudit.status).toBe("within");
    // onnxruntime (what a fast honest worker signs) on the same input, against canonical.
    const ort = await ortRun(bytes, world.program.input.name, world.input, "all");
    const ortVerdict = toleranceCheck(ort, out, tauOut);
    const sameFiniteness = [...f32(ort)].every((v, i) => Number.isFinite(v) === Number.isFinite(f32(out)[i]!) && Number.isNaN(v) === Number.isNaN(f32(out)[i]!));
    console.log(`τ rule: ${pairs} (w, c) pairs, TS = chain on each; canonical output [${[...f32(out)]}], onnxruntime [${[...f32(ort)]}]: ${ortVerdict.ok ? "within τ_out" : `beyond τ_out (${ortVerdict.beyond})`}`);
    // onnxruntime gives NaN where canonical does (NaN equals NaN whatever its bits): a fast honest worker is not disputed.
    expect(sameFiniteness).toBe(true);
    expect(auditResult({ ...target, output: ort }, { secret: Buffer.alloc(32, 1), fraction: 1 }).status).toBe("within");
  }, 300_000);
});
