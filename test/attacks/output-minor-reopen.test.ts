/**
 * Attack: one crafted input, several workers in turn (issue 11, "After an OutputMinor"). A requester's input drives
 * an honest fast runtime beyond τ_out (not τ_major) of the canonical output; a dispute rules OutputMinor (the
 * worker's canonical trace is right) and the request reopens. If the next worker served it with the same fast
 * runtime, the same input would cost it the same penalty, and the one after. A worker that picks up a request
 * reopened after an OutputMinor learns it from the oracle (the request's attempt, the earlier dispute's ruling) and
 * signs the CANONICAL output (τ = 0): the challenger's canonical re-run finds it exactly equal, nothing can be
 * disputed, and the request settles with that worker paid.
 *
 * The fast runtime pushed off by the crafted input is stood in for by scripts/fault-injection.ts OutputDrift (its
 * output moved between τ_out and τ_major; its canonical trace honest), given to BOTH workers: the second one's
 * drift never reaches its result, because it runs no fast runtime on this request.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Signer } from "ethers";
import type { ChallengerDaemon } from "../../challenger/index.js";
import { tauFromBits, toleranceCheck, PRECISIONS, type Precision, lowerModel, runProgram } from "../../canonical/index.js";
import { CanonicalOutputs } from "../../worker/index.js";
import { isError, querySubmitted, decodeTensor, type Tensor } from "../../protocol/index.js";
import { CLS_MODEL_PATH, CLS_SHAPE, DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { OutputDrift } from "../../scripts/fault-injection.js";
import { classify, clsGameDaemon, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

const { resultBond, tolerancePenaltyBps, challengeWindow } = DEFAULT_PARAMS;
const OUTPUT_MINOR = 3;

describe("a request reopened after an OutputMinor is served with the canonical output", () => {
  let stack: LocalStack;
  let challenger: Signer;
  let daemon: ChallengerDaemon;
  let drift: OutputDrift;
  let precision: Precision;

  beforeAll(async () => {
    stack = await startLocalStack({ resolver: "game", workers: 0 });
    challenger = (await stack.ethers.getSigners())[15]!;
    const terms = await stack.registry.canonicalTerms(stack.modelHash);
    precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === Number(terms.precision))!;
    drift = new OutputDrift(tauFromBits(terms.tauOutAbs, terms.tauOutRel), tauFromBits(terms.tauMajorAbs, terms.tauMajorRel));
    daemon = await clsGameDaemon(stack, challenger);
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_outputMinor_reopened_nextWorkerSignsCanonical_notDisputable_settles", async () => {
    // Worker A (fast runtime driven off by the input) takes the request first.
    await stack.addWorker({ traceBuilder: drift });
    const inputBytes = textInput("A crafted line", false);
    const id = await classify(stack, await uploadBlob(stack, inputBytes));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "worker A's result on-chain");
    expect(drift.drifted).toEqual([id]);
    const operatorA = await stack.oracle.operatorOf(stack.workerSigners[0]!.address);
    const stakeA = (await stack.oracle.getWorker(operatorA)).stake;

    // The challenger's canonical re-run finds A's output beyond τ_out; the game rules OutputMinor (A's trace is right).
    const outcomes = await daemon.poll();
    expect(outcomes.get(id)).toMatchObject({ kind: "gamePlayed", ruling: OUTPUT_MINOR });
    expect(Number((await stack.oracle.getDispute(id, 0)).ruling)).toBe(OUTPUT_MINOR);
    expect(stakeA - (await stack.oracle.getWorker(operatorA)).stake).toBe((resultBond * BigInt(tolerancePenaltyBps)) / 10_000n);
    expect(await stack.oracle.state(id)).toBe(1n); // Requested again
    expect(Number((await stack.oracle.getRequest(id)).attempt)).toBe(1);
    await stack.workers[0]!.close();

    // Worker B has the same drifting fast runtime, but learns the request's history and signs the canonical output.
    await stack.addWorker({ traceBuilder: drift });
    const operatorB = (await stack.oracle.operatorOf(stack.workerSigners[1]!.address)).toLowerCase();
    await waitFor(async () => stateOf(stack, id) === "submitted" && (await stack.oracle.state(id)) === 2n, 180_000, "worker B's result on-chain");
    expect(stack.relayer.db.getRequest(id)!.worker!.toLowerCase()).toBe(operatorB);
    expect(drift.drifted).toEqual([id]); // B's fast runtime never ran on it

    // B's signed output is the canonical output bit for bit.
    const signed = decodeTensor(await (await fetch(`${stack.relayer.url}/blobs/${(await querySubmitted(stack.ethers.provider, await stack.oracle.getAddress(), { requestId: id })).at(-1)!.outputHash}`)).arrayBuffer().then((b) => Buffer.from(b)));
    const program = lowerModel(readFileSync(CLS_MODEL_PATH), { inputShape: CLS_SHAPE });
    const canonical = runProgram(program, decodeTensor(inputBytes), { precision }).output;
    expect(Buffer.from((signed.data as Float32Array).buffer)).toEqual(Buffer.from((canonical.data as Float32Array).buffer));
    expect(toleranceCheck(signed as Tensor, canonical, { abs: 0, rel: 0 }).ok).toBe(true);

    // Nothing to dispute: the daemon's re-run is within τ_out (exactly equal) and sends nothing.
    const second = await daemon.poll();
    expect(second.get(id)).toMatchObject({ kind: "honest" });
    expect(daemon.bondAtRisk()).toBe(0n);
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    expect((await stack.dapp.classification(id)).received).toBe(true);
  }, 600_000);

  it("test_canonicalTooSlow_refusedWithReason", async () => {
    // A model whose canonical run takes longer than canonicalOutputMaxMs is refused, and remembered as such.
    const outputs = new CanonicalOutputs(1);
    const input = decodeTensor(textInput("slow", false));
    let caught: unknown;
    try {
      await outputs.output(stack.modelHash, CLS_MODEL_PATH, input, precision);
    } catch (error) {
      caught = error;
    }
    expect(isError(caught, "CANONICAL_TOO_SLOW")).toBe(true);
    expect((caught as Error).message).toMatch(/reopened after an OutputMinor.*canonical run takes \d+ ms, over this worker's canonicalOutputMaxMs 1: refused/);
    const t0 = performance.now();
    await expect(outputs.output(stack.modelHash, CLS_MODEL_PATH, input, precision)).rejects.toThrow(/canonicalOutputMaxMs 1/);
    expect(performance.now() - t0).toBeLessThan(50); // not run again
    // A worker with room for the run serves it: the cls model's two class probabilities.
    const served = await new CanonicalOutputs(600_000).output(stack.modelHash, CLS_MODEL_PATH, input, precision);
    expect(served.output.shape).toEqual([1, 2]);
    const [p0, p1] = served.output.data as Float32Array;
    expect(p0! + p1!).toBeCloseTo(1, 2); // at any canonical precision (bf16 keeps 8 bits)
  }, 120_000);
});
