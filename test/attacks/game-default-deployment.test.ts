/**
 * Issue 11 on the default deployment: the local stack deployed by `oracle deploy`'s procedure with the FraudGame
 * as the classifier's resolver, an honest worker whose game answerer runs by default (worker/game-answerer.ts,
 * started by the stack as worker/main.ts starts it), and the relayer. No test code plays the worker's side.
 *
 * Attacks that must fail:
 * - a wrong challenge (a challenger descending with a trace of its own that is false at one element): the honest
 *   worker's answerer commits and answers every attack, from its input cache (the input was sent by URI), or,
 *   the cache lost, from the input refetched by hash; the game rules WorkerRight, the worker is NOT slashed and
 *   its result settles; the liar's bond is gone;
 * - a challenger that opens a dispute and never moves: the worker commits, the move clock runs out, the worker's
 *   answerer resolves the game itself (WorkerRight), the challenger's bond is lost and the result settles.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Signer } from "ethers";
import { CanonicalTrace, lowerModel, type Program } from "../../canonical/index.js";
import { GAME_RULING, GameChallenger } from "../../protocol/fraud-game-client.js";
import { decodeTensor, type Tensor, type Hex, querySubmitted, type LogLike } from "../../protocol/index.js";
import { CLS_MODEL_PATH, CLS_SHAPE, DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";
import { readFileSync } from "node:fs";
import { withElement } from "./game-fixture.js";
import { openChallenge } from "../../challenger/index.js";

const { challengeBond, challengeWindow } = DEFAULT_PARAMS;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("attack: wrong challenges against an honest worker on the default FraudGame deployment", () => {
  let stack: LocalStack;
  let program: Program;
  let moveClock: number;
  let responseTime: number;

  beforeAll(async () => {
    stack = await startLocalStack({ resolver: "game", workers: 1 });
    program = lowerModel(readFileSync(CLS_MODEL_PATH), { inputShape: CLS_SHAPE });
    moveClock = Number(await stack.game!.moveClock());
    responseTime = Number(await stack.game!.responseTime());
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  });

  /** An honest result on-chain for a URI input; returns its id, its submission's logs and the input and output. */
  async function honestResult(text: string): Promise<{ id: Hex; logs: readonly LogLike[]; input: Tensor; output: Tensor }> {
    const bytes = textInput(text, true);
    const id = (await classify(stack, await uploadBlob(stack, bytes))) as Hex;
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "the honest result on-chain");
    const [ev] = await querySubmitted(stack.ethers.provider, await stack.oracle.getAddress(), { requestId: id });
    const logs = (await stack.ethers.provider.getTransactionReceipt(ev!.transactionHash!))!.logs;
    const output = decodeTensor(await stack.relayer.blobs.get(ev!.outputHash));
    return { id, logs, input: decodeTensor(bytes), output };
  }

  /** The one challenge path of the code base (challenger/dispute.ts): the record and batch proof from the submission's logs. */
  async function challenge(by: Signer, id: Hex, logs: readonly LogLike[]) {
    await (await openChallenge(stack.oracle.connect(by), await stack.oracle.getAddress(), id, logs, challengeBond)).wait();
  }

  async function settles(id: Hex) {
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    expect((await stack.dapp.classification(id)).rotated180).toBe(true);
  }

  for (const cache of ["cached", "refetched"] as const) {
    it(`test_attack_lyingChallenger_honestWorkerAnswersFromItsInput(${cache})_WorkerRight_notSlashed`, async () => {
      const liar = (await stack.ethers.getSigners())[16]!;
      const operator = await stack.oracle.operatorOf(stack.workerSigners[0]!.address);
      const stakeBefore = (await stack.oracle.getWorker(operator)).stake;
      const { id, logs, input, output } = await honestResult(`Honest ${cache}`);
      const worker = stack.workers[0]!;
      expect(worker.inputs.has(id)).toBe(true);
      // The cache lost (evicted, or the disk replaced): the answerer refetches the input by its hash.
      if (cache === "refetched") worker.inputs.delete(id);

      await challenge(liar, id, logs);
      // The liar's trace: the canonical one with one element of a middle step changed.
      const honest = CanonicalTrace.build(program, input, { precision: "fp32" });
      const maps = program.steps.filter((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2 && honest.tensor(s.index).data.byteLength >= 16 * 1024);
      const j = maps[Math.floor(maps.length / 2)]!.index;
      const tensors = honest.tensors.slice();
      tensors[j] = withElement(tensors[j]!, 11, (tensors[j]!.data as Float32Array)[11]! - 2);
      const lie = new CanonicalTrace(program, input, tensors, "fp32");
      const player = new GameChallenger(await stack.game!.getAddress(), liar, {
        wait: async (reason) => (reason === "clock" ? void (await stack.networkHelpers.time.increase(moveClock + 1)) : sleep(20)),
        maxPolls: 5000,
      });
      const play = await player.play(id, lie, output);
      expect(play.ruling).toBe(GAME_RULING.WorkerRight);
      // Every attack answered by the worker's answerer (the daemon), the leaf found honest.
      expect(play.descent!.rounds).toBeGreaterThan(8);
      await waitFor(() => stack.gameAnswerers[0]!.outcomes.get(id) === "WorkerRight", 30_000, "the answerer to see the ruling");
      if (cache === "refetched") expect(worker.inputs.has(id)).toBe(true);
      // Not slashed; the liar's bond is gone (nothing to claim); the result stands and settles.
      expect((await stack.oracle.getWorker(operator)).stake).toBe(stakeBefore);
      expect(await stack.oracle.balanceOf(liar.address)).toBe(0n);
      // Submitted, or already Fulfilled: the liar's waits moved the chain's clock past the window after the ruling.
      expect([2n, 4n]).toContain(await stack.oracle.state(id));
      await settles(id);
      // Settled: the worker's input cache lets the input go.
      await waitFor(() => !worker.inputs.has(id), 30_000, "the settled request's input dropped from the cache");
    }, 300_000);
  }

  it("test_attack_challengerNeverMoves_workerCommitsAndResolves_challengerLosesItsBond", async () => {
    const sock = (await stack.ethers.getSigners())[17]!;
    const operator = await stack.oracle.operatorOf(stack.workerSigners[0]!.address);
    const stakeBefore = (await stack.oracle.getWorker(operator)).stake;
    const { id, logs } = await honestResult("Silent challenger");
    const sockBefore = await stack.ethers.provider.getBalance(sock.address);
    await challenge(sock, id, logs);
    // The worker's answerer commits its trace by itself.
    await waitFor(async () => (await stack.game!.game(id)).committed, 60_000, "the worker's commitment");
    // The challenger never attacks: its move clock runs out; the worker's answerer resolves the game.
    await stack.networkHelpers.time.increase(moveClock + responseTime + 1);
    await waitFor(async () => (await stack.game!.game(id)).resolved, 60_000, "the worker to resolve the ended game");
    expect(Number((await stack.game!.game(id)).ruling)).toBe(GAME_RULING.WorkerRight);
    // The answerer records the outcome on its next poll after the resolving transaction: wait for it, not race it.
    await waitFor(() => stack.gameAnswerers[0]!.outcomes.get(id) === "WorkerRight", 30_000, "the answerer to record the ruling");
    expect((await stack.oracle.getWorker(operator)).stake).toBe(stakeBefore);
    // The bond is lost: nothing to withdraw, nothing to claim, the ETH it sent gone.
    expect(await stack.oracle.balanceOf(sock.address)).toBe(0n);
    await expect(stack.oracle.connect(sock).claimDispute(id, 0)).rejects.toThrow();
    expect(sockBefore - (await stack.ethers.provider.getBalance(sock.address))).toBeGreaterThan(challengeBond);
    await settles(id);
  }, 300_000);
});
