/**
 * worker/result-batcher.ts: one signature per batch of results (docs/V2.md §3). Results are grouped by
 * (chain, oracle, payee), signed with the worker's noble signer when maxItems wait or maxWaitMs after the
 * first, and each `add` resolves only once its batch is published (a job is acked only after its result
 * left the worker); a failed publish fails every job of the batch, so the queue redelivers them.
 */
import { describe, expect, it } from "vitest";
import { Wallet, ZeroAddress } from "ethers";
import { oracleDomain, recoverResultBatchSigner, type BatchItem, type ResultBatchMessage } from "../../protocol/index.js";
import { ResultBatcher } from "../../worker/result-batcher.js";
import { FastSigner } from "../../worker/signer.js";
import { CHAIN_ID, ORACLE, SIGNER_KEY, randomHash } from "./fixtures.js";

const domain = oracleDomain(CHAIN_ID, ORACLE);
const signer = new FastSigner(SIGNER_KEY);
const item = (): BatchItem => ({ requestId: randomHash(), modelHash: randomHash(), inputHash: randomHash(), outputHash: randomHash(), output: "0x", provider: "cpu", timings: {}, observedAt: Date.now() });

function batcher(options: { maxItems: number; maxWaitMs: number; publish?: (m: ResultBatchMessage) => Promise<void> }) {
  const published: ResultBatchMessage[] = [];
  const b = new ResultBatcher({
    maxItems: options.maxItems,
    maxWaitMs: options.maxWaitMs,
    signer: signer.address,
    sign: (d, st) => signer.signBatch(d, st),
    publish: options.publish ?? (async (m) => void published.push(m)),
  });
  return { b, published };
}

const signerOf = (m: ResultBatchMessage) =>
  recoverResultBatchSigner(domain, { payee: m.payee, signature: m.signature, entries: m.items.map((i) => ({ requestId: i.requestId, outputHash: i.outputHash })) });

describe("ResultBatcher", () => {
  it("test_add_fullBatch_signedOnceAndPublishedAtMaxItems", async () => {
    const { b, published } = batcher({ maxItems: 4, maxWaitMs: 60_000 });
    const items = Array.from({ length: 8 }, item);
    await Promise.all(items.map((i) => b.add(domain, CHAIN_ID.toString(), ORACLE, ZeroAddress, i)));
    expect(published.map((m) => m.items.length)).toEqual([4, 4]);
    for (const m of published) expect(signerOf(m)).toBe(new Wallet(SIGNER_KEY).address);
    expect(published.flatMap((m) => m.items.map((i) => i.requestId))).toEqual(items.map((i) => i.requestId));
  });

  it("test_add_partialBatch_publishedAfterMaxWait_groupedByPayee", async () => {
    const { b, published } = batcher({ maxItems: 32, maxWaitMs: 30 });
    const payees = [Wallet.createRandom().address, Wallet.createRandom().address];
    const started = Date.now();
    await Promise.all([0, 1, 0, 1, 0].map((p) => b.add(domain, CHAIN_ID.toString(), ORACLE, payees[p]!, item())));
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    // One batch per payee: the payee is signed for every item of a batch.
    expect(published.map((m) => [m.payee, m.items.length]).sort()).toEqual([[payees[0], 3], [payees[1], 2]].sort());
    for (const m of published) expect(signerOf(m)).toBe(signer.address);
  });

  it("test_add_publishFails_everyJobOfTheBatchFails", async () => {
    let calls = 0;
    const { b } = batcher({ maxItems: 3, maxWaitMs: 60_000, publish: async () => {
      calls++;
      throw new Error("broker unavailable");
    } });
    const results = await Promise.allSettled([item(), item(), item()].map((i) => b.add(domain, CHAIN_ID.toString(), ORACLE, ZeroAddress, i)));
    expect(calls).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
  });

  it("test_close_publishesWhatWaits_thenRefusesNewResults", async () => {
    const { b, published } = batcher({ maxItems: 32, maxWaitMs: 60_000 });
    const pending = [b.add(domain, CHAIN_ID.toString(), ORACLE, ZeroAddress, item()), b.add(domain, CHAIN_ID.toString(), ORACLE, ZeroAddress, item())];
    await b.close();
    await Promise.all(pending);
    expect(published.map((m) => m.items.length)).toEqual([2]);
    await expect(b.add(domain, CHAIN_ID.toString(), ORACLE, ZeroAddress, item())).rejects.toThrow(/closed/);
  });
});
