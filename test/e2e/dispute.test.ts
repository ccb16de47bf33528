/**
 * A real dispute on the in-process stack (docs/OPTIMISTIC.md "One-step fraud proofs"): the PP-OCR
 * classifier registered with the FraudProofResolver (commitment root + trace count), workers that
 * publish full traces to the relayer's blob store, and the ChallengerDaemon auditing every result.
 *
 * A FAULTY worker (scripts/fault-injection.ts, test-only) alters one element of one intermediate
 * tensor of its trace and swaps the classifier's two probabilities in the output it signs. It is the
 * only worker up when the dApp asks, so it answers first; the daemon proves the fraud with a
 * one-step proof, the worker is slashed, the request reopens, the honest worker (started then)
 * serves it, the window passes, and the dApp receives the correct answer. Funds are conserved.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Signer } from "ethers";
import { ChallengerDaemon } from "../../challenger/daemon.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../scripts/local-stack.js";
import { FaultyTraceBuilder } from "../../scripts/fault-injection.js";
import { clsCommitment } from "../challenger/fixtures.js";
import { classify, stateOf, textInput, uploadBlob } from "./helpers.js";

const { challengeBond, resultBond, challengeWindow, burnBps } = DEFAULT_PARAMS;
/** A lone challenger's share of a WorkerFault: its bond back plus the slash less its burn share. */
const FAULT_SHARE = challengeBond + resultBond - (resultBond * BigInt(burnBps)) / 10_000n;

/** Every ETH holder the protocol touches: the chain's accounts, the contracts and the block producer. */
async function totalBalance(stack: LocalStack, coinbase: string): Promise<bigint> {
  const addresses = new Set<string>([coinbase]);
  for (const s of await stack.ethers.getSigners()) addresses.add((await s.getAddress()).toLowerCase());
  for (const c of [stack.oracle, stack.registry, stack.resolver, stack.fraudResolver!, stack.dapp]) addresses.add((await c.getAddress()).toLowerCase());
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

describe("dispute end to end (FraudProofResolver, full traces, challenger daemon)", () => {
  let stack: LocalStack;
  let commitment: ModelCommitment;
  let challenger: Signer;
  let daemon: ChallengerDaemon;
  let faulty: FaultyTraceBuilder;

  beforeAll(async () => {
    commitment = await clsCommitment();
    stack = await startLocalStack({ resolver: "fraud", commitment, workers: 0, worker: { trace: "full" } });
    faulty = new FaultyTraceBuilder({ blobStoreUrl: stack.relayer.url, fault: { corruptOutput: true } });
    challenger = (await stack.ethers.getSigners())[15]!;
    daemon = new ChallengerDaemon({
      oracleAddress: await stack.oracle.getAddress(),
      runner: challenger,
      blobStoreUrl: stack.relayer.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction: 1, maxBondAtRisk: 2n * challengeBond, seed: 1 },
    });
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_dispute_faultyResultProven_workerSlashed_requestReopened_dAppGetsCorrectAnswer", async () => {
    const coinbase = ((await stack.ethers.provider.send("eth_coinbase", [])) as string).toLowerCase();
    const startBlock = await stack.ethers.provider.getBlockNumber();
    const before = await totalBalance(stack, coinbase);
    const challengerAddress = await challenger.getAddress();
    const challengerBefore = await stack.ethers.provider.getBalance(challengerAddress);

    // Only the faulty worker is up: it takes the job.
    await stack.addWorker({ traceBuilder: faulty });
    const faultyOperator = await stack.oracle.operatorOf(stack.workerSigners[0]!.address);
    const stakeBefore = (await stack.oracle.getWorker(faultyOperator)).stake;
    const id = await classify(stack, await uploadBlob(stack, textInput("Honest workers win", true)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "the faulty result on-chain");
    expect(faulty.faults.map((f) => f.requestId.toLowerCase())).toEqual([id]);
    const [submitted] = await stack.oracle.queryFilter(stack.oracle.filters.ResultSubmitted(id));
    expect(submitted!.args.traceRoot).toBe(faulty.faults[0]!.traceRoot);

    // The daemon audits it from the relayer's blob store and proves the fraud on-chain.
    const outcomes = await daemon.poll();
    const target = commitment.operators.find((o) => o.outputs.some((out) => out.trace === faulty.faults[0]!.traceIndex))!;
    expect(outcomes.get(id)).toMatchObject({ kind: "fraudProven", opIndex: target.index, element: 7, workerAtFault: true });
    expect(daemon.bondAtRisk()).toBe(0n);
    expect(await stack.oracle.state(id)).toBe(0n + 1n); // Requested again (reopened)
    const stakeAfter = (await stack.oracle.getWorker(faultyOperator)).stake;
    expect(stakeBefore - stakeAfter).toBe(resultBond); // the result's bond is slashed
    expect(await stack.oracle.balanceOf(challengerAddress)).toBe(FAULT_SHARE);

    // The honest worker comes up; the relayer hands the reopened job out with the faulty signer excluded.
    await stack.addWorker();
    const honestOperator = (await stack.oracle.operatorOf(stack.workerSigners[1]!.address)).toLowerCase();
    await waitFor(async () => stateOf(stack, id) === "submitted" && (await stack.oracle.state(id)) === 2n, 120_000, "the honest result on-chain");
    expect(stack.relayer.db.getRequest(id)!.worker!.toLowerCase()).toBe(honestOperator);
    expect(JSON.parse(stack.relayer.db.getRequest(id)!.excluded!)).toEqual([stack.workerSigners[0]!.address.toLowerCase()]);
    // The reopened job may first reach the faulty worker before its exclusion is known: the oracle
    // refuses that result (OracleWorkerDisqualified) and the relayer hands the job out with it excluded.
    expect(faulty.faults.length).toBeLessThanOrEqual(2);

    // The daemon audits the honest result and does nothing.
    const second = await daemon.poll();
    expect(second.get(id)).toMatchObject({ kind: "honest" });
    expect(await stack.oracle.state(id)).toBe(2n);

    // The window passes; the relayer settles; the dApp gets the correct answer (the line is upside down).
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    const c = await stack.dapp.classification(id);
    expect(c.received).toBe(true);
    expect(c.decoded).toBe(true);
    expect(c.rotated180).toBe(true);
    expect(await stack.dapp.resultCount()).toBe(1n);

    // The challenger withdraws its reward: its bond back plus the slashed result bond less the burn.
    const withdrawn = await daemon.withdraw();
    expect(withdrawn).toBe(FAULT_SHARE);
    // Its net gain is the slashed bond less the burn share, less the gas it paid.
    const reward = FAULT_SHARE - challengeBond;
    const challengerAfter = await stack.ethers.provider.getBalance(challengerAddress);
    expect(challengerAfter - challengerBefore).toBeGreaterThan(reward - 10n ** 16n);
    expect(challengerAfter - challengerBefore).toBeLessThan(reward);

    // No funds lost: every wei is still held by someone, except the burned base fees.
    const endBlock = await stack.ethers.provider.getBlockNumber();
    const after = await totalBalance(stack, coinbase);
    expect(before - after).toBe(await burned(stack, startBlock, endBlock));
  }, 400_000);

  it("test_dispute_honestResult_audited_noChallenge", async () => {
    const challengerAddress = await challenger.getAddress();
    const balance = await stack.ethers.provider.getBalance(challengerAddress);
    await stack.workers[0]!.close(); // only the honest worker serves
    const id = await classify(stack, await uploadBlob(stack, textInput("Merkle roots", false)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 120_000, "the honest result on-chain");
    const outcomes = await daemon.poll();
    expect(outcomes.get(id)).toMatchObject({ kind: "honest" });
    expect((outcomes.get(id) as { checkedElements: number }).checkedElements).toBeGreaterThan(100_000);
    expect(await stack.oracle.state(id)).toBe(2n); // still Submitted: no dispute
    expect(daemon.bondAtRisk()).toBe(0n);
    expect(await stack.ethers.provider.getBalance(challengerAddress)).toBe(balance); // no transaction sent
    await stack.networkHelpers.time.increase(challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 120_000, "settlement");
    expect((await stack.dapp.classification(id)).rotated180).toBe(false);
  }, 300_000);
});
