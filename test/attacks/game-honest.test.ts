/**
 * Property: an honest worker is never slashed (docs/V2.md §5, issue 11 "no honest worker is slashed"). On the real
 * PP-OCR cls program run canonically, seeded rounds of two hostile joiners attack random nodes of every tree
 * (descents to random chunks of random tensors, element attacks on random reduce elements, partial descents), the
 * honest worker answers each from its canonical trace, and the joiners then try every leaf proof against it
 * (random map/move elements, random partial states, random headers, its exact output): every proof reverts
 * FraudGameNoFault, and the game ends WorkerRight within its bound.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, encodePartial, partialStates, reduceTerms } from "../../canonical/index.js";
import { merklePath, sha256, bytesToHex, seededRandom, encodeTensor } from "../../protocol/index.js";
import { expectRevert } from "../contracts/helpers.js";
import { chunkProofOf, operandProofsOf, programPathOf, readerOf } from "./game-proof-helpers.js";
import { answer, clsWorld, commit, deployGame, levelsOf, pathTo, MOVE_CLOCK, openDispute, RULING, TREE, type ClsWorld, type Connection, type GameFx, type Pos } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let fx: GameFx;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
  fx = await deployGame(conn, world);
  expect(fx.verifier.real).toBe(true);
});

const reads = async (p: Promise<any[]>) => [...(await p)].map((r: any) => ({ operand: r.operand as bigint, index: r.index as bigint }));

describe("FraudGame: an honest worker always wins", () => {
  for (const seed of [1, 2]) {
    it(`test_honestWorker_randomAttacksAndProofs_rulesWorkerRight (seed ${seed})`, async () => {
      const rnd = seededRandom(seed);
      const pick = (n: number) => Math.floor(rnd() * n);
      const b = world.honest;
      const steps = world.program.steps;
      const { requestId, rc } = await openDispute(fx, world, b.tensors[b.n - 1]!);
      await fx.oracle.connect(fx.joiner2).join(requestId);
      await commit(fx, requestId, b);
      const joiners = [fx.challenger, fx.joiner2];
      // Descents to random chunks of random tensors (a reduce one among them, for element attacks).
      const reduceSteps = steps.filter((s) => s.kind === "reduce").map((s) => s.index);
      const targets = [reduceSteps[pick(reduceSteps.length)]!, pick(b.n), pick(b.n)];
      const visited = new Set<string>();
      for (const [k, j] of targets.entries()) {
        const chunks = b.chunkLevels[j]![0]!.length;
        const c = pick(chunks);
        const key = `${j}:${c}`;
        if (visited.has(key)) continue;
        visited.add(key);
        // Nodes already answered on a shared path are skipped by descending only through unanswered ones.
        await descendFresh(requestId, j, c, joiners[k % 2]!);
      }
      // Element attacks on random elements of the revealed reduce chunk, answered honestly; a partial descent each.
      const j = targets[0]!;
      const step = steps[j]!;
      const enc = encodeStep(step);
      const revealedChunk = [...visited].find((k) => k.startsWith(`${j}:`))!;
      const c = Number(revealedChunk.split(":")[1]);
      const perChunk = 1024 / 4;
      const numel = b.data[j]!.length / 4;
      const elems = [c * perChunk + pick(Math.min(perChunk, numel - c * perChunk))];
      for (const e of elems) {
        await fx.game.connect(joiners[1]!).attackElement(requestId, j, e, enc, programPathOf(world, j));
        const r = reduceTerms(step, readerOf(world, b, step), e, "fp32");
        const K = r.terms.length;
        const states = partialStates(r);
        const leaves = states.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
        const levels = levelsOf(leaves);
        const hp = levels.length - 1;
        await fx.game.answerElement(requestId, j, e, enc, b.chunk(j, c), bytesToHex(levels[hp]![0]!), bytesToHex(encodePartial(states[K]!)), merklePath(leaves, K).map(bytesToHex));
        const T = pick(K + 1);
        for (let h = hp; h > 0; h--) {
          const i = T >> h;
          const pos: Pos = { tree: TREE.PARTIAL, step: j, element: BigInt(e), height: h, index: BigInt(i) };
          await fx.game.connect(joiners[h % 2]!).attack(requestId, pos);
          await fx.game.answerNode(requestId, pos, bytesToHex(levels[h - 1]![2 * i]!), bytesToHex(levels[h - 1]![2 * i + 1] ?? Buffer.alloc(32)));
        }
        // Every fold proof against the honest partial tree fails: t = 0 (init), T, and K.
        for (const t of new Set([0, T, K])) {
          const rd = t === 0 ? await reads(fx.verifier.contract.initReads(enc, e)) : await reads(fx.verifier.contract.termReads(enc, e, t - 1));
          const prev = t === 0 ? 0 : t - 1;
          await expectRevert(
            fx.game.connect(joiners[0]!).proveFold(requestId, j, e, enc, t, bytesToHex(encodePartial(states[prev]!)), merklePath(leaves, prev).map(bytesToHex), bytesToHex(leaves[t]!), merklePath(leaves, t).map(bytesToHex), operandProofsOf(world, step, rd, b)),
            fx.game,
            "FraudGameNoFault",
          );
        }
      }
      // Every element proof against random map/move elements fails.
      const mm = steps.filter((s) => s.kind !== "reduce");
      for (let k = 0; k < 6; k++) {
        const s = mm[pick(mm.length)]!;
        const e = pick(b.data[s.index]!.length / 4);
        const enc2 = encodeStep(s);
        const rd = await reads(fx.verifier.contract.reads(enc2, e));
        await expectRevert(
          fx.game.connect(joiners[k % 2]!).proveStep(requestId, s.index, e, enc2, programPathOf(world, s.index), chunkProofOf(encodeTensor(b.tensors[s.index]!), e, b.manifestPath(s.index)), operandProofsOf(world, s, rd, b)),
          fx.game,
          "FraudGameNoFault",
        );
      }
      // Every header proof fails, and the exact output records nothing.
      for (let k = 0; k < 4; k++) {
        const jj = pick(b.n);
        await expectRevert(
          fx.game.connect(joiners[k % 2]!).proveHeader(requestId, jj, b.headers[jj]!, bytesToHex(b.dataRoot(jj)), b.manifestPath(jj), encodeStep(steps[jj]!), programPathOf(world, jj)),
          fx.game,
          "FraudGameNoFault",
        );
      }
      const out = encodeTensor(b.tensors[b.n - 1]!);
      await expectRevert(
        fx.game.connect(joiners[0]!).proveOutput(requestId, 1, chunkProofOf(out, 1, []), chunkProofOf(out, 1, []), encodeStep(steps[b.n - 1]!), programPathOf(world, b.n - 1)),
        fx.game,
        "FraudGameNoFault",
      );
      await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
      await fx.game.resolve(requestId);
      const d = await fx.oracle.disputes(requestId);
      expect(Number(d.ruling)).toBe(RULING.WorkerRight);
      const opened = BigInt((await conn.ethers.provider.getBlock(rc.blockNumber))!.timestamp);
      expect(BigInt((await conn.ethers.provider.getBlock("latest"))!.timestamp)).toBeLessThanOrEqual(d.deadline);
      expect(d.deadline).toBeGreaterThan(opened);
    });
  }
});

/** Attacks and answers every not-yet-answered node on the way to chunk c of tensor j (a path may share answered nodes). */
async function descendFresh(requestId: string, j: number, c: number, attacker: GameFx["challenger"]) {
  for (const pos of pathTo(world.honest, j, c)) {
    const st = Number((await fx.game.node(requestId, pos)).state);
    if (st === 3) continue;
    await fx.game.connect(attacker).attack(requestId, pos);
    await answer(fx, requestId, world.honest, pos);
  }
}
