/**
 * DeadlineEnforcer (relayer/deadlines.ts) against a SenderChain (sender-fixture.ts) and the real database: due OPTIMISTIC results
 * settle in one call with the batch proofs rebuilt from their submitting transaction's logs (checked
 * against the committed root); what is not due waits; a row whose proof cannot be rebuilt holds back
 * only itself; expired requests are refunded and overdue disputes ruled by default; a revert counts
 * against its items and gives up after a bound, an outage never does.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isError, Tier, batchRoot, encodeRecords, processProof, resultLeaf } from "../../protocol/index.js";
import { DeadlineEnforcer } from "../../relayer/deadlines.js";
import type { RequestRow } from "../../relayer/db.js";
import { hex32, openRequest, resultBatchEvent, senderFixture } from "./sender-fixture.js";

const WORKER = "0x0000000000000000000000000000000000000a0a";
const RELAYER = "0x00000000000000000000000000000000000000fe";

describe("DeadlineEnforcer (unit, against a SenderChain)", () => {
  let f: ReturnType<typeof senderFixture>;
  let deadlines: DeadlineEnforcer;

  beforeEach(() => {
    f = senderFixture();
    deadlines = new DeadlineEnforcer(f.chain, f.db, f.blobs, f.log, { maxSettleBatch: 16, maxInlineOutputBytes: 1024 });
  });
  afterEach(() => f.close());

  /** OPTIMISTIC results submitted in one transaction (committed as one batch), their challenge windows ending at `until`. */
  function submitted(n: number, until: number): { rows: RequestRow[]; root: string } {
    const rows = Array.from({ length: n }, () => openRequest(f.db, { tier: Tier.OPTIMISTIC }));
    const records = rows.map((r) => ({ id: r.id, worker: WORKER, relayer: RELAYER, outputHash: hex32() }));
    const root = batchRoot(records.map((r) => resultLeaf(r.id, 0, r)));
    const receipt = f.chain.mine([resultBatchEvent(WORKER, RELAYER, records.map((r) => ({ requestId: r.id, outputHash: r.outputHash, time: until })))]);
    for (const r of records) f.db.updateRequest(r.id, { state: "submitted", worker: WORKER, relayer: RELAYER, outputHash: r.outputHash, challengeDeadline: until, submitTx: receipt.hash });
    return { rows: rows.map((r) => f.db.getRequest(r.id)!), root };
  }

  it("test_tick_dueResults_settleInOneCallWithProofsToTheCommittedRoot_succeeds", async () => {
    const { rows, root } = submitted(3, f.chain.time - 1);
    const later = submitted(1, f.chain.time + 600);
    await deadlines.tick();

    const calls = f.chain.callsTo("settleMany");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.items).toBe(3);
    const settlements = calls[0]!.args[0] as { requestId: string; record: { worker: string; relayer: string; outputHash: string }; proof: string[] }[];
    expect(settlements.map((s) => s.requestId)).toEqual(rows.map((r) => r.id));
    for (const s of settlements) {
      const row = rows.find((r) => r.id === s.requestId)!;
      expect(s.record.outputHash).toBe(row.outputHash);
      const record = { worker: s.record.worker, relayer: s.record.relayer, outputHash: s.record.outputHash };
      expect(processProof(resultLeaf(s.requestId, 0, record), [...s.proof])).toBe(root);
    }
    expect(settlements.map((s) => s.requestId)).not.toContain(later.rows[0]!.id);
  });

  it("test_tick_resultWithoutReceipt_holdsBackOnlyItself_succeeds", async () => {
    const { rows } = submitted(2, f.chain.time - 1);
    const lost = openRequest(f.db, { state: "submitted", challengeDeadline: f.chain.time - 1, outputHash: hex32(), submitTx: hex32() });
    await deadlines.tick();
    const settled = (f.chain.callsTo("settleMany")[0]!.args[0] as { requestId: string }[]).map((s) => s.requestId);
    expect(settled).toEqual(rows.map((r) => r.id));
    expect(settled).not.toContain(lost.id);
  });

  it("test_tick_expiredRequests_refundedTogether_succeeds", async () => {
    const expired = [openRequest(f.db, { deadline: f.chain.time - 10 }), openRequest(f.db, { deadline: f.chain.time })];
    openRequest(f.db, { deadline: f.chain.time + 10 });
    await deadlines.tick();
    const calls = f.chain.callsTo("refundExpired");
    expect(calls).toHaveLength(1);
    expect([...(calls[0]!.args[0] as string[])].sort()).toEqual(expired.map((r) => r.id).sort());
  });

  it("test_tick_overdueDisputes_ruledByDefaultOneByOne_succeeds", async () => {
    const overdue = [openRequest(f.db, { state: "challenged", disputeDeadline: f.chain.time - 5 }), openRequest(f.db, { state: "challenged", disputeDeadline: f.chain.time - 1 })];
    openRequest(f.db, { state: "challenged", disputeDeadline: f.chain.time + 60 });
    await deadlines.tick();
    expect(f.chain.callsTo("resolveDisputeByDefault").map((c) => c.args[0])).toEqual(overdue.map((r) => r.id));
  });

  it("test_tick_revertingRefund_givesUpAfterTheBound_reverts", async () => {
    openRequest(f.db, { deadline: f.chain.time - 10 });
    f.chain.answer = () => ({ revert: "OracleDeadlineNotReached" });
    for (let i = 0; i < 8; i++) await deadlines.tick();
    // Five reverted attempts, then the item is left for an operator (logged), not retried every tick.
    expect(f.chain.callsTo("refundExpired")).toHaveLength(5);
  });

  it("test_tick_chainUnavailable_neverGivesUpAndSettlesOnceItAnswers_succeeds", async () => {
    const { rows } = submitted(1, f.chain.time - 1);
    f.chain.answer = () => ({ unavailable: true });
    for (let i = 0; i < 8; i++) {
      const error = await deadlines.tick().then(() => undefined, (e: unknown) => e);
      expect(isError(error, "CHAIN_UNAVAILABLE")).toBe(true);
    }
    f.chain.answer = () => ({ events: [] });
    await deadlines.tick();
    expect(f.chain.callsTo("settleMany")).toHaveLength(9);
    expect((f.chain.callsTo("settleMany")[8]!.args[0] as { requestId: string }[])[0]!.requestId).toBe(rows[0]!.id);
  });
});
