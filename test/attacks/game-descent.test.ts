/**
 * FraudGame's clocks, commitment and descent (docs/V2.md §5) on the real PP-OCR cls program run canonically:
 * each attacker's move next to the defender's answer.
 * - a silent worker loses by timeout (commitment, and a missed answer);
 * - a forged commitment (another key, another attempt, a wrong final path) is refused;
 * - an honest worker answering every attack wins (WorkerRight), within the duration bound;
 * - an invalid reveal (wrong children, header, chunk bytes, a nonzero padding sibling) is refused;
 * - an attack after moveClock, by a non-joiner, or beyond maxAttacks is refused;
 * - a joiner who never moves (or stops) cannot stall the game beyond the bound.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { fraudGameDomain, traceCommitmentDigest, bytesToHex, type Hex } from "../../protocol/index.js";
import { expectRevert } from "../contracts/helpers.js";
import {
  answer, clsWorld, commit, dataPos, deployGame, descend, MOVE_CLOCK, openDispute, pathTo, RESPONSE_TIME, rootHeight, RULING,
  signCommitment, tracePos, TREE, type ClsWorld, type Connection, type GameFx,
} from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let fx: GameFx;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
  fx = await deployGame(conn, world);
});

const now = async () => BigInt((await conn.ethers.provider.getBlock("latest"))!.timestamp);
const ruling = async (requestId: string) => Number((await fx.oracle.disputes(requestId)).ruling);
const output = () => world.honest.tensors[world.honest.n - 1]!;

/** The largest tensor of the trace (most chunks): the deepest DATA descent this model has. */
function deepestStep(): number {
  let best = 0;
  world.honest.data.forEach((d, j) => {
    if (d.length > world.honest.data[best]!.length) best = j;
  });
  return best;
}

describe("FraudGame commitment", () => {
  it("test_onDisputeOpened_notOracle_or_noTerms_reverts", async () => {
    const ctx = {
      requestId: bytesToHex(Buffer.alloc(32, 7)),
      attempt: 0,
      modelHash: world.modelHash,
      inputHash: bytesToHex(Buffer.alloc(32, 1)),
      outputHash: bytesToHex(Buffer.alloc(32, 2)),
      worker: fx.workerSigner.address,
      signer: fx.workerSigner.address,
      paramsVersion: 0,
    };
    // Only the oracle opens games (a forged opening could otherwise rule through the oracle).
    await expectRevert(fx.game.connect(fx.outsider).onDisputeOpened(ctx), fx.game, "FraudGameNotOracle");
    // A model without canonical terms cannot be disputed through the game.
    await expectRevert(fx.oracle.connect(fx.challenger).open(fx.gameAddr, { ...ctx, modelHash: bytesToHex(Buffer.alloc(32, 9)) }), fx.registry, "RegistryCanonicalTermsNotSet");
  });

  it("test_timeoutCommitment_silentWorker_rulesWorkerFault", async () => {
    const { requestId } = await openDispute(fx, world, output());
    await expectRevert(fx.game.timeoutCommitment(requestId), fx.game, "FraudGameTooEarly");
    await expectRevert(fx.game.resolve(requestId), fx.game, "FraudGameNotEnded");
    await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
    // A commitment after its deadline is refused: the default has become due.
    const sig = await signCommitment(fx, requestId, world.honest.root, world.honest.tensorHashes[world.honest.n - 1]!);
    await expectRevert(
      fx.game.commitTrace(requestId, bytesToHex(world.honest.root), bytesToHex(world.honest.tensorHashes[world.honest.n - 1]!), world.honest.manifestPath(world.honest.n - 1), sig),
      fx.game,
      "FraudGameLate",
    );
    await fx.game.connect(fx.outsider).timeoutCommitment(requestId);
    expect(await ruling(requestId)).toBe(RULING.WorkerFault);
    expect((await fx.game.game(requestId)).resolved).toBe(true);
    await expectRevert(fx.game.resolve(requestId), fx.game, "FraudGameResolved");
  });

  it("test_commitTrace_forged_reverts: another key, another attempt, a wrong final path; then once only", async () => {
    const { requestId } = await openDispute(fx, world, output());
    const b = world.honest;
    const final = b.tensorHashes[b.n - 1]!;
    const path = b.manifestPath(b.n - 1);
    const other = (await import("ethers")).Wallet.createRandom();
    const byOther = await signCommitment(fx, requestId, b.root, final, 0, other);
    await expectRevert(fx.game.commitTrace(requestId, bytesToHex(b.root), bytesToHex(final), path, byOther), fx.game, "FraudGameBadSignature");
    const otherAttempt = await signCommitment(fx, requestId, b.root, final, 1);
    await expectRevert(fx.game.commitTrace(requestId, bytesToHex(b.root), bytesToHex(final), path, otherAttempt), fx.game, "FraudGameBadSignature");
    // A signed finalHash that is not leaf n−1 (here leaf n−2's hash, with leaf n−2's path) is refused.
    const wrongFinal = b.tensorHashes[b.n - 2]!;
    const sigWrong = await signCommitment(fx, requestId, b.root, wrongFinal);
    await expectRevert(fx.game.commitTrace(requestId, bytesToHex(b.root), bytesToHex(wrongFinal), b.manifestPath(b.n - 2), sigWrong), fx.game, "FraudGameBadProof", [9n]);
    // The contract's digest is protocol/fraud-game.ts's.
    expect(await fx.game.traceCommitmentDigest(requestId, 0, bytesToHex(b.root), bytesToHex(final))).toBe(
      traceCommitmentDigest(fraudGameDomain(fx.chainId, fx.gameAddr), { requestId: requestId as Hex, attempt: 0, traceRoot: bytesToHex(b.root), finalHash: bytesToHex(final) }),
    );
    await commit(fx, requestId, b);
    await expectRevert(commit(fx, requestId, b), fx.game, "FraudGameAlreadyCommitted");
    const g = await fx.game.game(requestId);
    expect(g.committed).toBe(true);
    expect(g.traceRoot).toBe(bytesToHex(b.root));
  });
});

describe("FraudGame descent", () => {
  it("test_descent_honestWorkerAnswersEveryAttack_rulesWorkerRight within the bound; reports gas", async () => {
    const { requestId, rc } = await openDispute(fx, world, output());
    const opened = BigInt((await conn.ethers.provider.getBlock(rc.blockNumber))!.timestamp);
    const maxDuration = (await fx.oracle.disputes(requestId)).deadline - opened;
    const commitRc = await commit(fx, requestId, world.honest);
    const j = deepestStep();
    const chunks = world.honest.chunkLevels[j]![0]!.length;
    const c = chunks - 1; // the last, short chunk: its right siblings are padding at several levels
    // A non-joiner cannot attack.
    await expectRevert(fx.game.connect(fx.outsider).attack(requestId, tracePos(rootHeight(world.honest.n), 0)), fx.game, "FraudGameNotChallenger");
    const gas = await descend(fx, requestId, world.honest, j, c);
    const path = pathTo(world.honest, j, c);
    for (const pos of path) expect(Number((await fx.game.node(requestId, pos)).state)).toBe(3); // Answered
    // The game has not ended while moveClock runs on the last reveal.
    await expectRevert(fx.game.resolve(requestId), fx.game, "FraudGameNotEnded");
    // The sibling of the last chunk leaf was revealed with it: attacking it after moveClock is refused.
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    const sibling = dataPos(j, 0, c ^ 1);
    if ((c ^ 1) < chunks) await expectRevert(fx.game.connect(fx.challenger).attack(requestId, sibling), fx.game, "FraudGameLate");
    const resolveRc = await (await fx.game.connect(fx.outsider).resolve(requestId)).wait();
    expect(await ruling(requestId)).toBe(RULING.WorkerRight);
    const t = BigInt((await conn.ethers.provider.getBlock(resolveRc.blockNumber))!.timestamp);
    expect(t - opened).toBeLessThanOrEqual(maxDuration);
    const max = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a), 0n);
    console.log(
      `FraudGame gas (cls, ${world.honest.n} steps, tensor ${j} with ${chunks} chunks, ${path.length} levels): ` +
        `commit ${commitRc.gasUsed}, attack max ${max(gas.attack)}, answerNode max ${max(gas.answer.slice(0, -1))}, ` +
        `answerTensor ${gas.answer[rootHeight(world.honest.n)]}, answerChunk ${gas.answer[gas.answer.length - 1]}, resolve ${resolveRc.gasUsed}`,
    );
    for (const g of [...gas.attack, ...gas.answer, commitRc.gasUsed, resolveRc.gasUsed]) expect(g).toBeLessThan(2_000_000n);
  });

  it("test_answers_invalidReveal_reverts, then the missed answer rules WorkerFault", async () => {
    const { requestId } = await openDispute(fx, world, output());
    const b = world.honest;
    await commit(fx, requestId, b);
    const ht = rootHeight(b.n);
    const root = tracePos(ht, 0);
    // An answer to a node nobody attacked is refused.
    await expectRevert(answer(fx, requestId, b, root), fx.game, "FraudGameUnexpectedNodeState");
    await fx.game.connect(fx.challenger).attack(requestId, root);
    await expectRevert(fx.game.connect(fx.challenger).attack(requestId, root), fx.game, "FraudGameUnexpectedNodeState");
    const [l, r] = [b.nodeOf(TREE.TRACE, 0, ht - 1, 0), b.nodeOf(TREE.TRACE, 0, ht - 1, 1)];
    await expectRevert(fx.game.answerNode(requestId, root, bytesToHex(r), bytesToHex(l)), fx.game, "FraudGameBadProof", [1n]);
    await answer(fx, requestId, b, root);
    // A wrong header for a manifest leaf is refused.
    const leaf = tracePos(0, 5);
    const parentPath = pathTo(b, 5, 0).slice(0, ht + 1);
    for (const p of parentPath.slice(1, -1)) {
      if (Number((await fx.game.node(requestId, p)).state) === 1) {
        await fx.game.connect(fx.challenger).attack(requestId, p);
        await answer(fx, requestId, b, p);
      }
    }
    await fx.game.connect(fx.challenger).attack(requestId, leaf);
    const wrongHeader = Buffer.from(b.headers[5]!);
    wrongHeader[wrongHeader.length - 1] = wrongHeader[wrongHeader.length - 1]! ^ 1;
    await expectRevert(fx.game.answerTensor(requestId, 5, wrongHeader, bytesToHex(b.dataRoot(5))), fx.game, "FraudGameBadProof", [3n]);
    await expectRevert(fx.game.answerTensor(requestId, 5, b.headers[5]!, bytesToHex(b.dataRoot(6))), fx.game, "FraudGameBadProof", [3n]);
    await answer(fx, requestId, b, leaf);
    // Wrong chunk bytes are refused.
    const hd = rootHeight(b.chunkLevels[5]![0]!.length);
    for (let h = hd; h > 0; h--) {
      const p = dataPos(5, h, 0);
      await fx.game.connect(fx.challenger).attack(requestId, p);
      await answer(fx, requestId, b, p);
    }
    const chunkLeaf = dataPos(5, 0, 0);
    await fx.game.connect(fx.challenger).attack(requestId, chunkLeaf);
    const bad = Buffer.from(b.chunk(5, 0));
    bad[3] = bad[3]! ^ 1;
    await expectRevert(fx.game.answerChunk(requestId, 5, 0, bad), fx.game, "FraudGameBadProof", [4n]);
    // The worker stays silent: the answer comes too late, and anyone rules the timeout.
    await expectRevert(fx.game.timeout(requestId, chunkLeaf), fx.game, "FraudGameTooEarly");
    await expectRevert(fx.game.resolve(requestId), fx.game, "FraudGameNotEnded");
    await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
    await expectRevert(answer(fx, requestId, b, chunkLeaf), fx.game, "FraudGameLate");
    await fx.game.connect(fx.outsider).timeout(requestId, chunkLeaf);
    expect(await ruling(requestId)).toBe(RULING.WorkerFault);
  });

  it("test_answerNode_nonzeroPaddingSibling_reverts", async () => {
    const { requestId } = await openDispute(fx, world, output());
    const b = world.honest;
    await commit(fx, requestId, b);
    // Walk the right edge of the manifest until a node whose right child is padding.
    let pos = tracePos(rootHeight(b.n), 0);
    for (;;) {
      await fx.game.connect(fx.challenger).attack(requestId, pos);
      const idx = Number(pos.index);
      const h = pos.height;
      if (2 * idx + 1 >= b.manifest[h - 1]!.length) {
        const left = b.nodeOf(TREE.TRACE, 0, h - 1, 2 * idx);
        await expectRevert(fx.game.answerNode(requestId, pos, bytesToHex(left), bytesToHex(left)), fx.game, "FraudGameBadProof", [1n]);
        // Even a "right" that makes the hash work is impossible to forge; the honest zero is accepted.
        await answer(fx, requestId, b, pos);
        expect(Number((await fx.game.node(requestId, tracePos(h - 1, 2 * idx + 1))).state)).toBe(0);
        break;
      }
      await answer(fx, requestId, b, pos);
      pos = tracePos(h - 1, Math.min(2 * idx + 1, b.manifest[h - 1]!.length - 1));
      if (pos.height === 0) throw new Error("cls manifest has no padded node on its right edge");
    }
  });

  it("test_attack_budget_and_idleJoiner: maxAttacks caps a joiner; a joiner that stops cannot stall the game", async () => {
    const small = await deployGame(conn, world, { maxAttacks: 2 });
    const { requestId, rc } = await openDispute(small, world, output());
    const opened = BigInt((await conn.ethers.provider.getBlock(rc.blockNumber))!.timestamp);
    const deadline = (await small.oracle.disputes(requestId)).deadline;
    await commit(small, requestId, world.honest);
    const path = pathTo(world.honest, 3, 0);
    for (const pos of path.slice(0, 2)) {
      await small.game.connect(small.challenger).attack(requestId, pos);
      await answer(small, requestId, world.honest, pos);
    }
    await expectRevert(small.game.connect(small.challenger).attack(requestId, path[2]!), small.game, "FraudGameAttackBudgetSpent");
    expect(Number(await small.game.attacksOf(requestId, small.challenger.address))).toBe(2);
    // A second joiner has its own budget, but the idle first one holds nothing open: after moveClock the game ends.
    await small.oracle.connect(small.joiner2).join(requestId);
    await small.game.connect(small.joiner2).attack(requestId, path[2]!);
    await answer(small, requestId, world.honest, path[2]!);
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await expectRevert(small.game.connect(small.joiner2).attack(requestId, path[3]!), small.game, "FraudGameLate");
    const r = await (await small.game.resolve(requestId)).wait();
    expect(Number((await small.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerRight);
    const t = BigInt((await conn.ethers.provider.getBlock(r.blockNumber))!.timestamp);
    expect(t).toBeLessThanOrEqual(deadline);
    expect(t - opened).toBeLessThan(RESPONSE_TIME * 4 + MOVE_CLOCK * 4);
  });

  it("test_maxDuration_boundsTheDeepestDescent: responseTime + D·(moveClock + responseTime) + moveClock + responseTime", async () => {
    const { requestId, rc } = await openDispute(fx, world, output());
    const opened = BigInt((await conn.ethers.provider.getBlock(rc.blockNumber))!.timestamp);
    const maxDuration = (await fx.oracle.disputes(requestId)).deadline - opened;
    const d = BigInt(await fx.game.maxDepth(world.honest.n));
    expect(d).toBe(BigInt(rootHeight(world.honest.n) + 1 + 22 + 1 + 1 + 21));
    const rt = BigInt(RESPONSE_TIME);
    const mc = BigInt(MOVE_CLOCK);
    expect(maxDuration).toBe(rt + d * (mc + rt) + mc + rt);
    // Clocks whose bound for a 2^32-step program exceeds the oracle's 180-day cap are refused at deployment.
    const day = 86_400;
    await expectRevert(
      conn.ethers.deployContract("FraudGame", [await fx.oracle.getAddress(), await fx.registry.getAddress(), fx.verifier.address, 2 * day, 2 * day, 8]),
      fx.game,
      "FraudGameBadImmutables",
    );
    await conn.ethers.deployContract("FraudGame", [await fx.oracle.getAddress(), await fx.registry.getAddress(), fx.verifier.address, day / 2, day / 2, 8]);
  });
});
