/**
 * Disputes end to end on the in-process stack through the FraudGame, the default OPTIMISTIC resolver
 * (docs/OPTIMISTIC.md): the PP-OCR classifier registered with the game (canonical terms set: its program
 * commitment and τ_out calibrated against onnxruntime), workers that sign outputs with no trace and answer the
 * games opened on their results by default (worker/game-answerer.ts, inputs from their input cache), the relayer,
 * and the ChallengerDaemon re-running every result canonically and playing the game on a result beyond τ_out.
 *
 * - A CHEATING worker (scripts/fault-injection.ts GameCheater, test-only) signs the two probabilities swapped and
 *   defends a forged trace: the daemon's canonical re-run finds the output beyond τ_out, the bisection finds the
 *   forged element, a leaf proof slashes the worker; the honest worker serves the reopened request; the dApp gets
 *   the correct answer. Funds are conserved. The undisputed result carried no trace.
 * - An honest result is re-run and left alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Signer } from "ethers";
import type { ChallengerDaemon } from "../../challenger/index.js";
import type { MoveRecord } from "../../protocol/fraud-game-client.js";
import { querySubmitted } from "../../protocol/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { GameCheater } from "../../scripts/fault-injection.js";
import { classify, clsGameDaemon, stateOf, textInput, uploadBlob } from "./helpers.js";

const { challengeBond, resultBond, challengeWindow, burnBps } = DEFAULT_PARAMS;
/** A lone challenger's share of a WorkerFault: its bond back plus the slash less its burn share. */
const FAULT_SHARE = challengeBond + resultBond - (resultBond * BigInt(burnBps)) / 10_000n;

/** Every ETH holder the protocol touches: the chain's accounts, the contracts and the block producer. */
async function totalBalance(stack: LocalStack, coinbase: string): Promise<bigint> {
  const addresses = new Set<string>([coinbase]);
  for (const s of await stack.ethers.getSigners()) addresses.add((await s.getAddress()).toLowerCase());
  for (const c of [stack.oracle, stack.registry, stack.resolver, stack.game!, stack.dapp]) addresses.add((await c.getAddress()).toLowerCase());
  let sum = 0n;
  for (const a of addresses) sum += await stack.ethers.provider.getBalance(a);
  return sum;
}

/** Base fee burned in blocks (from, to]: the only ETH that may leave the accounts above. */
async function burned(stack: LocalStack, from: number, to: number): Promise<bigint> {
  let sum = 0n;
  for (let b = from + 1; b <= to; b++) {
    const block = (await stack.ethers.provider.getBlock(b))!;
    sum += (block.baseFeePerGas ?? 0n) * block.gasUsed;
  }
  return sum;
}

describe("dispute end to end (FraudGame, canonical re-run, challenger daemon, workers answering)", () => {
  let stack: LocalStack;
  let challenger: Signer;
  let daemon: ChallengerDaemon;
  const cheater = new GameCheater();
  const moves: MoveRecord[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ resolver: "game", workers: 0, gameClient: { onMove: (m) => moves.push(m) } });
    challenger = (await stack.ethers.getSigners())[15]!;
    daemon = await clsGameDaemon(stack, challenger, (m) => moves.push(m));
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_dispute_cheaterCaughtByCanonicalRerunAndBisection_slashed_requestReopened_dAppGetsCorrectAnswer", async () => {
    const coinbase = ((await stack.ethers.provider.send("eth_coinbase", [])) as string).toLowerCase();
    const startBlock = await stack.ethers.provider.getBlockNumber();
    const before = await totalBalance(stack, coinbase);
    const challengerAddress = await challenger.getAddress();
    const challengerBefore = await stack.ethers.provider.getBalance(challengerAddress);

    // Only the cheater is up: it takes the job (the input by URI: its answerer reads it from its input cache).
    await stack.addWorker({ traceBuilder: cheater, gameResponder: cheater.responder });
    const cheaterOperator = await stack.oracle.operatorOf(stack.workerSigners[0]!.address);
    const stakeBefore = (await stack.oracle.getWorker(cheaterOperator)).stake;
    const id = await classify(stack, await uploadBlob(stack, textInput("Honest workers win", true)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "the cheater's result on-chain");
    expect(cheater.faults.map((f) => f.requestId)).toEqual([id]);
    const [submitted] = await querySubmitted(stack.ethers.provider, await stack.oracle.getAddress(), { requestId: id });
    expect(submitted?.optimistic).toBe(true);
    // No trace in the happy path: the signed result (a ResultBatch) names none, the event has no trace root.
    expect(stack.oracle.interface.getEvent("ResultBatchSubmitted").inputs.map((i) => i.name)).not.toContain("traceRoot");
    expect(stack.workers[0]!.inputs.has(id)).toBe(true);

    // The daemon re-runs it canonically, disputes and plays the bisection down to the forged element.
    const outcomes = await daemon.poll();
    expect(outcomes.get(id)).toMatchObject({ kind: "gamePlayed", ruling: 2, outcome: "leafProof" });
    expect((outcomes.get(id) as { rounds: number }).rounds).toBeGreaterThan(8);
    const fault = cheater.faults[0]!;
    expect(fault.step).toBeGreaterThan(0);
    // The worker's side was played by its answerer, every attack answered.
    const attacks = moves.filter((m) => m.role === "challenger" && m.move.startsWith("attack")).length;
    expect(moves.filter((m) => m.role === "worker" && m.move.startsWith("answer")).length).toBe(attacks);
    expect(moves[0]!.move).toBe("commitTrace");
    expect(moves.at(-1)!.move).toBe("proveStep");
    for (const m of moves) expect(m.gas).toBeLessThan(2_000_000n);
    await waitFor(() => stack.gameAnswerers[0]!.outcomes.get(id) === "WorkerFault", 30_000, "the cheater's answerer to see the ruling");
    expect(daemon.bondAtRisk()).toBe(0n);
    expect(await stack.oracle.state(id)).toBe(1n); // Requested again (reopened)
    const stakeAfter = (await stack.oracle.getWorker(cheaterOperator)).stake;
    expect(stakeBefore - stakeAfter).toBe(resultBond);

    // The honest worker comes up; the relayer hands the reopened job out with the cheater excluded.
    await stack.addWorker();
    const honestOperator = (await stack.oracle.operatorOf(stack.workerSigners[1]!.address)).toLowerCase();
    await waitFor(async () => stateOf(stack, id) === "submitted" && (await stack.oracle.state(id)) === 2n, 120_000, "the honest result on-chain");
    expect(stack.relayer.db.getRequest(id)!.worker!.toLowerCase()).toBe(honestOperator);

    // The daemon re-runs the honest result: within τ_out, nothing sent.
    const second = await daemon.poll();
    expect(second.get(id)).toMatchObject({ kind: "honest" });
    expect(await stack.oracle.state(id)).toBe(2n);

    // The window passes; the relayer settles; the dApp gets the correct answer (the line is upside down).
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    const c = await stack.dapp.classification(id);
    expect(c.received).toBe(true);
    expect(c.rotated180).toBe(true);

    // The challenger withdraws its share: bond back plus the slash less the burn; its net gain covers its gas.
    const withdrawn = await daemon.withdraw();
    expect(withdrawn).toBe(FAULT_SHARE);
    const challengerAfter = await stack.ethers.provider.getBalance(challengerAddress);
    expect(challengerAfter - challengerBefore).toBeGreaterThan(FAULT_SHARE - challengeBond - 10n ** 16n);
    expect(challengerAfter - challengerBefore).toBeLessThan(FAULT_SHARE - challengeBond);

    // No funds lost: every wei is still held by someone, except the burned base fees.
    const endBlock = await stack.ethers.provider.getBlockNumber();
    const after = await totalBalance(stack, coinbase);
    expect(before - after).toBe(await burned(stack, startBlock, endBlock));
  }, 400_000);

  it("test_dispute_honestResult_rerunCanonically_noChallenge", async () => {
    const challengerAddress = await challenger.getAddress();
    const balance = await stack.ethers.provider.getBalance(challengerAddress);
    await stack.workers[0]!.close(); // only the honest worker serves
    const id = await classify(stack, await uploadBlob(stack, textInput("Merkle roots", false)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "the honest result on-chain");
    const outcomes = await daemon.poll();
    expect(outcomes.get(id)).toMatchObject({ kind: "honest" });
    expect(await stack.oracle.state(id)).toBe(2n); // still Submitted: no dispute
    expect(daemon.bondAtRisk()).toBe(0n);
    expect(await stack.ethers.provider.getBalance(challengerAddress)).toBe(balance); // no transaction sent
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    expect((await stack.dapp.classification(id)).rotated180).toBe(false);
  }, 300_000);
});
