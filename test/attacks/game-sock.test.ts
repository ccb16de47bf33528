/**
 * Issue 11, scenario 1 (self-challenge) on the FraudGame path: the real InferenceOracle, FraudGame and
 * StepVerifier, the PP-OCR cls program run canonically. Before: only the first challenger could prove, so a
 * worker's second address opened the dispute on its own wrong result, "proved" nothing (or a right element) and
 * closed the window for everyone; its bond went back to the worker. Now:
 * - the sock opens and never moves; the honest challenger joins later — after the result's challenge window has
 *   closed, since a dispute stays joinable until its own deadline and the trace root attackable for moveClock
 *   (≥ the challenge window) after the worker's commitment — descends and proves the false step:
 *   WorkerFault; worker + sock lose the burn of the slash and more, the honest joiner ends above its bond; a proof
 *   copied by someone who never joined reverts (FraudGameNotChallenger);
 * - the sock alone, nobody else watching: the game runs out to the oracle's default (WorkerRight) and the sock
 *   loses the burn of its bond — the price of keeping a wrong result's dispute to itself, which it cannot do for
 *   longer than anyone else lets it.
 * (Random socks that open idle or front-run the honest proof: test/attacks/game-random.test.ts.)
 */
import { network } from "hardhat";
import { Wallet } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep } from "../../canonical/index.js";
import { fraudGameDomain, signTraceCommitment, bytesToHex, encodeTensor, hashTensor, type Hex } from "../../protocol/index.js";
import { deploy, ETH, expectRevert, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Fx } from "../contracts/helpers.js";
import { chunkProofOf, operandProofsOf, programPathOf } from "./game-proof-helpers.js";
import { answer, clsWorld, MAX_ATTACKS, pathTo, RESPONSE_TIME, stepVerifierAddress, TraceBook, withElement, type ClsWorld, type Connection } from "./game-fixture.js";

const BPS = 10_000n;
let conn: Connection;
let world: ClsWorld;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
});

/**
 * The game's move clock must be at least the result's challenge window: a sock opens at once, the worker commits
 * at once, and the honest challenger then has `moveClock` from the commitment to attack its root. With
 * moveClock ≥ challengeWindow that is never less time than it had without the sock (docs/OPTIMISTIC.md
 * "Parameters"). The oracle fixture's window is 3,600 s, so this game runs with a 7,200 s move clock.
 */
const SOCK_MOVE_CLOCK = 2 * PARAMS.challengeWindow;

async function setup() {
  const fx: Fx = await deploy(conn);
  const verifier = await stepVerifierAddress(conn);
  const game: any = await fx.ethers.deployContract("FraudGame", [fx.oracleAddr, await fx.registry.getAddress(), verifier.address, RESPONSE_TIME, SOCK_MOVE_CLOCK, MAX_ATTACKS]);
  const gameAddr: string = await game.getAddress();
  await send(fx.registry.connect(fx.admin).setResolverApproval(gameAddr, true));
  await send(fx.registry.connect(fx.modelOwner).registerModel(world.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 })));
  await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(world.modelHash, world.terms));
  const sock = Wallet.createRandom().connect(fx.ethers.provider);
  await conn.networkHelpers.setBalance(sock.address, 10n * ETH);
  // The cheater's trace: one element of a middle map step moved; its signed output is that trace's output.
  const j = world.program.steps.filter((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2)[40]!.index;
  const e = 3;
  const t = world.honest.tensors[j]!;
  const cheat = new TraceBook(world.honest.tensors.map((x, i) => (i === j ? withElement(x, e, (t.data as Float32Array)[e]! + 1) : x)));
  const { id, rec } = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(cheat.tensors[cheat.n - 1]!) });
  // The sock opens the dispute on its worker's result.
  const opened = await send(fx.oracle.connect(sock).challenge(id, rec, [], { value: PARAMS.challengeBond }));
  const final = cheat.tensorHashes[cheat.n - 1]!;
  const sig = await signTraceCommitment(fx.signers[0]!, fraudGameDomain(fx.chainId, gameAddr), { requestId: id as Hex, attempt: 0, traceRoot: bytesToHex(cheat.root), finalHash: bytesToHex(final) });
  return { fx, game, verifier, sock, cheat, j, e, id: id as string, rec, openGas: opened.gasUsed as bigint, commit: () => send(game.connect(fx.relayer).commitTrace(id, bytesToHex(cheat.root), bytesToHex(final), cheat.manifestPath(cheat.n - 1), sig)) };
}

/** What worker 0 (stake + pull balance) and its sock (pull balance) hold in the oracle. */
async function coalition(fx: Fx, sock: string): Promise<bigint> {
  return (await fx.oracle.getWorker(fx.ops[0]!.address)).stake + (await fx.oracle.balanceOf(fx.ops[0]!.address)) + (await fx.oracle.balanceOf(sock));
}

describe("attack: a worker's sock opens the dispute on its wrong result (issue 11 scenario 1, FraudGame)", () => {
  it("test_sockOpensAndIdles_honestJoinsAfterTheWindow_provesFalseStep_coalitionLosesAtLeastTheBurn", async () => {
    const { fx, game, verifier, sock, cheat, j, e, id, rec, openGas, commit } = await setup();
    const before = await coalition(fx, sock.address);
    await commit();
    // The result's challenge window closes; the dispute stays joinable until its own deadline, and the root stays
    // attackable for the move clock after the commitment.
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 60);
    const joined = await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    expect(await fx.oracle.isChallenger(id, fx.challenger.address)).toBe(true);
    const asGame = { game, submitter: fx.relayer } as never;
    for (const pos of pathTo(cheat, j, Math.floor((e * 4) / 1024))) {
      await send(game.connect(fx.challenger).attack(id, pos));
      await answer(asGame, id, cheat, pos);
    }
    const s = world.program.steps[j]!;
    const enc = encodeStep(s);
    const reads = [...(await verifier.contract.reads(enc, e))].map((r: any) => ({ operand: r.operand as bigint, index: r.index as bigint }));
    const args = [id, j, e, enc, programPathOf(world, j), chunkProofOf(encodeTensor(cheat.tensors[j]!), e, cheat.manifestPath(j)), operandProofsOf(world, s, reads, cheat)] as const;
    // Someone who never joined cannot take the proof.
    await expectRevert(game.connect(fx.other).proveStep(...args), game, "FraudGameNotChallenger", [fx.other.address]);
    await send(game.connect(fx.challenger).proveStep(...args));
    const d = await fx.oracle.getDispute(id, 0);
    expect(d.ruling).toBe(BigInt(Ruling.WorkerFault));
    expect(d.joiners).toBe(2n);
    const claimed = await send(fx.oracle.connect(sock).claimDispute(id, 0));
    console.log(`gas: open a FraudGame dispute ${openGas}, join ${joined.gasUsed}, claimDispute ${claimed.gasUsed}`);
    const b0: bigint = await fx.oracle.balanceOf(fx.challenger.address);
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    expect((await fx.oracle.balanceOf(fx.challenger.address)) - b0).toBeGreaterThan(PARAMS.challengeBond);
    // Worker + sock: the slash out, the sock's share in, the sock's bond (from its wallet) out.
    const loss = before - (await coalition(fx, sock.address)) + PARAMS.challengeBond;
    expect(loss).toBeGreaterThanOrEqual((PARAMS.resultBond * BigInt(PARAMS.burnBps)) / BPS);
    console.log(`sock + honest joiner: worker + sock lose ${loss} wei (result bond ${PARAMS.resultBond}, burn of the slash ${(PARAMS.resultBond * BigInt(PARAMS.burnBps)) / BPS})`);
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Requested));
  }, 300_000);

  it("test_sockAlone_nobodyElse_defaultWorkerRight_sockLosesTheBurnOfItsBond", async () => {
    const { fx, game, sock, id } = await setup();
    const before = await coalition(fx, sock.address);
    // The worker does not even commit; nobody calls timeoutCommitment; the oracle's deadline passes.
    const d = await fx.oracle.getDispute(id, 0);
    const now = BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
    await conn.networkHelpers.time.increase(d.deadline - now + 1n);
    await send(fx.oracle.connect(fx.other).resolveDisputeByDefault(id));
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
    expect(Boolean((await game.game(id)).resolved)).toBe(false);
    const loss = before - (await coalition(fx, sock.address)) + PARAMS.challengeBond;
    expect(loss).toBe((PARAMS.challengeBond * BigInt(PARAMS.burnBps)) / BPS);
  }, 300_000);
});
