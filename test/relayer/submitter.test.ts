/**
 * ResultSubmitter against a SenderChain (sender-fixture.ts), with the real database and the real
 * JobDispatcher on an in-process queue: a signed batch goes out whole and in its signed order; the
 * items the oracle skips, or a batch it refuses whole, go back to other workers with their signer
 * excluded; an outage leaves everything pending for the next flush; nothing closed on-chain is sent;
 * a rejection with a refused type proof falls back to a plain one, and one short of the quorum hands
 * the job out again.
 */
import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QUEUES, Tier, encodeRecords, unpackItems, type Job, type RejectionMessage, type ResultBatchMessage } from "../../protocol/index.js";
import { InProcessQueue } from "../../queue/index.js";
import { MAX_REPUBLISH, JobDispatcher } from "../../relayer/dispatcher.js";
import type { RelayerDb, RequestRow } from "../../relayer/db.js";
import { ResultSubmitter } from "../../relayer/submitter.js";
import { hex32, openRequest, senderFixture } from "./sender-fixture.js";

const SIGNER = "0x00000000000000000000000000000000000051a1";
const WORKER = "0x0000000000000000000000000000000000000a0a";
const PAYEE = "0x00000000000000000000000000000000000000fe";

/** Holds a worker-signed batch over `rows` as the collector stores it; returns its message. */
function holdBatch(db: RelayerDb, rows: RequestRow[]): ResultBatchMessage {
  const m: ResultBatchMessage = {
    kind: "batch",
    chainId: "31337",
    oracle: "0x00000000000000000000000000000000000a11ce",
    payee: PAYEE,
    signer: SIGNER,
    signature: `0x${hex32().slice(2)}${hex32().slice(2)}1b`,
    items: rows.map((r) => ({ requestId: r.id, modelHash: r.modelHash, inputHash: r.inputHash, outputHash: hex32(), output: "0x", provider: "cpu", timings: {}, observedAt: r.observedAt })),
  };
  db.insertBatch({ id: m.signature, message: JSON.stringify(m), state: "pending", reason: null, receivedAt: Date.now() });
  for (const item of m.items) {
    const { output: _o, ...rest } = item;
    db.insertReply({ requestId: item.requestId, kind: "result", message: JSON.stringify({ ...rest, signer: SIGNER, payee: PAYEE, batch: m.signature }), state: "pending", reason: null, receivedAt: Date.now(), batch: m.signature });
  }
  return m;
}

function holdRejection(db: RelayerDb, row: RequestRow, proof = false): RejectionMessage {
  const m: RejectionMessage = {
    kind: "rejection",
    chainId: "31337",
    oracle: "0x00000000000000000000000000000000000a11ce",
    requestId: row.id,
    reason: 2,
    message: "input does not decode",
    code: "INPUT_MALFORMED",
    signer: SIGNER,
    signature: `0x${hex32().slice(2)}${hex32().slice(2)}1b`,
    observedAt: Date.now(),
    ...(proof ? { inputHeader: "0x0101", inputDataRoot: hex32() } : {}),
  };
  db.insertReply({ requestId: row.id, kind: "rejection", message: JSON.stringify(m), state: "pending", reason: null, receivedAt: Date.now(), batch: null });
  return m;
}

describe("ResultSubmitter (unit, against a SenderChain)", () => {
  let f: ReturnType<typeof senderFixture>;
  let queue: InProcessQueue;
  let jobs: Job[];
  let submitter: ResultSubmitter;

  beforeEach(async () => {
    f = senderFixture();
    queue = new InProcessQueue();
    jobs = [];
    await queue.consume<Job>(QUEUES.jobs, async (d) => {
      jobs.push(d.body);
    });
    const dispatcher = new JobDispatcher({ chainId: 31337n, oracleAddress: f.chain.oracleAddress, signer: new Wallet(hex32()) }, f.db, queue, f.log, async () => undefined);
    submitter = new ResultSubmitter(f.chain, f.db, f.log, { maxBatchSize: 8, maxBatchWaitMs: 10, maxInlineOutputBytes: 1024 }, (id, note) => dispatcher.republish(id, note), f.blobs);
  });
  afterEach(async () => {
    await submitter.close();
    await queue.close();
    f.close();
  });

  const open = (n: number, tier = Tier.OPTIMISTIC) => Array.from({ length: n }, () => openRequest(f.db, { tier, jobPublishedAt: Date.now() }));
  /** The oracle's one event for a batch whose `ids` were accepted (OPTIMISTIC records). */
  const accepted = (ids: string[]) => ["ResultBatchSubmitted", [hex32(), WORKER, PAYEE, ids.length, hex32(), encodeRecords(ids.map((requestId) => ({ requestId, outputHash: hex32(), time: 1_000_600, attempt: 0, optimistic: true })))]] as [string, unknown[]];
  const itemsOf = (call: { args: unknown[] }) => unpackItems(String(call.args[2]));
  const waitJobs = async (n: number) => {
    for (let i = 0; i < 100 && jobs.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };

  it("test_submitBatch_allAccepted_sendsTheSignedBatchWholeInOrder_succeeds", async () => {
    const rows = open(3);
    const m = holdBatch(f.db, rows);
    f.chain.answer = (call) => ({ events: [accepted(itemsOf(call).map((i) => i.requestId))] });
    await submitter.flush();

    const [call] = f.chain.callsTo("submitBatch");
    expect(f.chain.calls).toHaveLength(1);
    expect(call!.items).toBe(3);
    expect(call!.args[1]).toBe(m.signature);
    expect(String(call!.args[0]).toLowerCase()).toBe(PAYEE);
    expect(itemsOf(call!).map((i) => i.requestId)).toEqual(rows.map((r) => r.id));
    expect(f.db.getBatch(m.signature)!.state).toBe("submitted");
    for (const r of rows) {
      expect(f.db.getReply(r.id)!.state).toBe("submitted");
      expect(f.db.getRequest(r.id)!.submitTx).toBe(f.db.getBatch(m.signature)!.submitTx);
    }
    await submitter.flush();
    expect(f.chain.calls).toHaveLength(1); // nothing is sent twice
    expect(jobs).toHaveLength(0);
  });

  it("test_submitBatch_oneItemSkipped_othersStandAndSkippedJobGoesToAnotherWorker_succeeds", async () => {
    const rows = open(3);
    holdBatch(f.db, rows);
    const skippedId = rows[1]!.id;
    const selector = f.chain.oracle.interface.getError("OracleUnknownSigner")!.selector;
    f.chain.answer = () => ({ events: [["ResultSkipped", [skippedId, selector]], accepted([rows[0]!.id, rows[2]!.id])] });
    await submitter.flush();
    await waitJobs(1);

    expect(f.db.getReply(rows[0]!.id)!.state).toBe("submitted");
    expect(f.db.getReply(rows[2]!.id)!.state).toBe("submitted");
    const skipped = f.db.getReply(skippedId)!;
    expect(skipped.state).toBe("skipped");
    expect(skipped.reason).toBe("OracleUnknownSigner");
    // Handed out again once, naming the refused signer so its worker passes the job on.
    expect(jobs.map((j) => j.requestId)).toEqual([skippedId]);
    expect(jobs[0]!.excludedSigners).toEqual([SIGNER.toLowerCase()]);
    expect(f.db.getRequest(skippedId)!.jobPublishedAt).not.toBeNull();
  });

  it("test_submitBatch_refusedWhole_everyHeldItemGoesBack_succeeds", async () => {
    const rows = open(2);
    const m = holdBatch(f.db, rows);
    f.chain.answer = () => ({ revert: "OracleInvalidSignature" });
    await submitter.flush();
    await waitJobs(2);

    expect(f.db.getBatch(m.signature)!.state).toBe("failed");
    expect(f.db.getBatch(m.signature)!.reason).toBe("OracleInvalidSignature");
    for (const r of rows) expect(f.db.getReply(r.id)!.state).toBe("skipped");
    expect(jobs.map((j) => j.requestId).sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("test_submitBatch_chainUnavailable_staysPendingAndGoesOutOnTheNextFlush_succeeds", async () => {
    const rows = open(2);
    const m = holdBatch(f.db, rows);
    f.chain.answer = () => ({ unavailable: true });
    await submitter.flush();
    expect(f.db.getBatch(m.signature)!.state).toBe("pending");
    for (const r of rows) expect(f.db.getReply(r.id)!.state).toBe("pending");

    f.chain.answer = () => ({ events: [accepted(rows.map((r) => r.id))] });
    await submitter.flush();
    expect(f.chain.callsTo("submitBatch")).toHaveLength(2);
    expect(f.db.getBatch(m.signature)!.state).toBe("submitted");
    for (const r of rows) expect(f.db.getReply(r.id)!.state).toBe("submitted");
    expect(jobs).toHaveLength(0);
  });

  it("test_submitBatch_everyItemClosedOnChain_dropsTheBatchWithoutSending_succeeds", async () => {
    const rows = open(2);
    const m = holdBatch(f.db, rows);
    for (const r of rows) f.db.updateRequest(r.id, { state: "fulfilled" });
    await submitter.flush();
    expect(f.chain.calls).toHaveLength(0);
    expect(f.db.getBatch(m.signature)!.state).toBe("dropped");
    for (const r of rows) expect(f.db.getReply(r.id)!.state).toBe("submitted");
  });

  it("test_skipped_repeatedly_handsTheJobOutABoundedNumberOfTimes_succeeds", async () => {
    const [row] = open(1);
    f.chain.answer = (call) => ({ events: [["ResultSkipped", [itemsOf(call)[0]!.requestId, f.chain.oracle.interface.getError("OracleUnknownSigner")!.selector]]] });
    for (let i = 0; i < MAX_REPUBLISH + 2; i++) {
      f.db.deleteReply(row!.id);
      holdBatch(f.db, [row!]);
      await submitter.flush();
    }
    await waitJobs(MAX_REPUBLISH);
    expect(f.chain.callsTo("submitBatch")).toHaveLength(MAX_REPUBLISH + 2);
    expect(jobs).toHaveLength(MAX_REPUBLISH);
  });

  it("test_submitRejection_proofRefused_fallsBackToAPlainRejectionAndHandsTheJobOutBelowQuorum_succeeds", async () => {
    const [row] = open(1);
    holdRejection(f.db, row!, true);
    f.chain.answer = (call) =>
      call.method === "rejectRequestWithProof" ? { revert: "OracleInputTypeMatches" } : { events: [["RejectionRecorded", [row!.id, WORKER, 1, 2]]] };
    await submitter.flush();
    await waitJobs(1);

    expect(f.chain.calls.map((c) => c.method)).toEqual(["rejectRequestWithProof", "rejectRequest"]);
    expect(f.db.getReply(row!.id)!.state).toBe("skipped");
    expect(f.db.getReply(row!.id)!.reason).toBe("rejection recorded (1 of 2)");
    expect(jobs.map((j) => j.requestId)).toEqual([row!.id]);
    expect(jobs[0]!.excludedSigners).toEqual([SIGNER.toLowerCase()]);
  });

  it("test_submitRejection_quorumReached_refundsAndHandsNothingOut_succeeds", async () => {
    const [row] = open(1);
    holdRejection(f.db, row!);
    f.chain.answer = () => ({ events: [["RejectionRecorded", [row!.id, WORKER, 2, 2]], ["RequestRefunded", [row!.id, "0x00000000000000000000000000000000000000b0", 1000, 3, true]]] });
    await submitter.flush();
    expect(f.chain.callsTo("rejectRequest")).toHaveLength(1);
    expect(f.db.getReply(row!.id)!.state).toBe("submitted");
    expect(jobs).toHaveLength(0);
  });

  it("test_submitRejection_reverted_marksTheReplySkippedAndSendsItOnce_succeeds", async () => {
    const [row] = open(1);
    holdRejection(f.db, row!);
    f.chain.answer = () => ({ revert: "OracleUnknownSigner" });
    await submitter.flush();
    await submitter.flush();
    expect(f.chain.callsTo("rejectRequest")).toHaveLength(1);
    expect(f.db.getReply(row!.id)!.state).toBe("skipped");
  });
});
