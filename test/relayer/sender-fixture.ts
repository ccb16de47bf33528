/**
 * A SenderChain (relayer/chain.ts) for the unit tests of submitter.ts and deadlines.ts: every call is
 * built by the code under test with the real oracle binding (`populateTransaction`), decoded here
 * with the oracle's ABI, and answered by the test with the logs the oracle would emit, a revert or
 * an outage. Beside it, a real RelayerDb and BlobStore in a temp dir, and request rows as the
 * ledger writes them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZeroHash, hexlify, randomBytes, type ContractTransaction, type Log, type Result, type TransactionReceipt } from "ethers";
import { IInferenceOracle__factory, OracleError, createLogger, encodeRecords, type IInferenceOracle, batchRoot, resultLeaf } from "../../protocol/index.js";
import { BlobStore } from "../../relayer/blobs.js";
import type { SenderChain } from "../../relayer/chain.js";
import { RelayerDb, type RequestRow } from "../../relayer/db.js";

export const ORACLE_ADDRESS = "0x00000000000000000000000000000000000a11ce";

/** A call as the oracle would receive it. */
export interface SentCall {
  label: string;
  items: number;
  method: string;
  args: Result;
}

/** How the fake oracle answers a call: the events it emits, or a failure. */
export type Answer = { events: [name: string, values: unknown[]][] } | { revert: string } | { unavailable: true };

export class FakeSenderChain implements SenderChain {
  readonly oracleAddress = ORACLE_ADDRESS;
  /** The real binding, with no runner: it can populate calls and decode, never send. */
  readonly oracle: IInferenceOracle = IInferenceOracle__factory.connect(ORACLE_ADDRESS);
  readonly calls: SentCall[] = [];
  private readonly receipts = new Map<string, TransactionReceipt>();
  /** Chain time (seconds) that `chainTime` reports. */
  time = 1_000_000;
  /** Answers the next call; the default: the call succeeds and emits nothing. */
  answer: (call: SentCall) => Answer = () => ({ events: [] });
  readonly provider = {
    getTransactionReceipt: async (hash: string): Promise<TransactionReceipt | null> => this.receipts.get(hash) ?? null,
  };

  async chainTime(): Promise<number> {
    return this.time;
  }

  async send(label: string, items: number, build: () => Promise<ContractTransaction>): Promise<TransactionReceipt> {
    const tx = await build();
    if (tx.to.toLowerCase() !== ORACLE_ADDRESS) throw new Error(`call to ${tx.to}, not the oracle`);
    const parsed = this.oracle.interface.parseTransaction({ data: tx.data })!;
    const call: SentCall = { label, items, method: parsed.name, args: parsed.args };
    this.calls.push(call);
    const answer = this.answer(call);
    if ("revert" in answer) throw new OracleError("CHAIN_REVERTED", `${label} reverted: ${answer.revert}`, { details: { label, error: answer.revert } });
    if ("unavailable" in answer) throw new OracleError("CHAIN_UNAVAILABLE", `${label} failed after 3 attempts`, { retryable: true });
    return this.mine(answer.events);
  }

  /** A mined transaction's receipt holding `events` (the oracle's), kept for `getTransactionReceipt`. */
  mine(events: [name: string, values: unknown[]][]): TransactionReceipt {
    const hash = hexlify(randomBytes(32));
    const logs = events.map(([name, values], index) => {
      const { topics, data } = this.oracle.interface.encodeEventLog(name, values);
      return { address: ORACLE_ADDRESS, topics, data, index, transactionHash: hash, blockNumber: 1 } as unknown as Log;
    });
    const receipt = { hash, logs, gasUsed: 100_000n, blockNumber: 1, status: 1 } as unknown as TransactionReceipt;
    this.receipts.set(hash, receipt);
    return receipt;
  }

  /** The calls to `method`, in order. */
  callsTo(method: string): SentCall[] {
    return this.calls.filter((c) => c.method === method);
  }
}

/** A temp dir with a real RelayerDb and BlobStore; `close` removes it. */
export function senderFixture() {
  const dir = mkdtempSync(join(tmpdir(), "sender-"));
  const db = new RelayerDb(dir);
  const blobs = new BlobStore(dir, db, { maxBytes: 1 << 20, retentionSeconds: 3600 });
  const chain = new FakeSenderChain();
  const log = createLogger("sender-test", { level: "silent" });
  return {
    dir,
    db,
    blobs,
    chain,
    log,
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const hex32 = (): string => hexlify(randomBytes(32));

/** A result the oracle accepted: OPTIMISTIC (a leaf of the batch's acceptedRoot) unless `optimistic` is false. */
export interface AcceptedResult {
  requestId: string;
  outputHash: string;
  /** OPTIMISTIC: the end of its challenge window; NONE/ZK: the submission time. */
  time: number;
  attempt?: number;
  optimistic?: boolean;
}

/** The oracle's one ResultBatchSubmitted for a batch of `items` items of which `results` were accepted. */
export function resultBatchEvent(worker: string, payee: string, results: readonly AcceptedResult[], items = results.length): [name: string, values: unknown[]] {
  const leaves = results.filter((r) => r.optimistic !== false).map((r) => resultLeaf(r.requestId, r.attempt ?? 0, { worker, relayer: payee, outputHash: r.outputHash }));
  const records = encodeRecords(results.map((r) => ({ ...r, attempt: r.attempt ?? 0, optimistic: r.optimistic !== false })));
  return ["ResultBatchSubmitted", [hex32(), worker, payee, items, leaves.length === 0 ? ZeroHash : batchRoot(leaves), records]];
}

/** Inserts an open request row as the ledger records an InferenceRequested event; `fields` then applied. */
export function openRequest(db: RelayerDb, fields: Partial<RequestRow> = {}): RequestRow {
  const id = fields.id ?? hex32();
  db.insertRequest({
    id,
    requester: "0x00000000000000000000000000000000000000b0",
    modelHash: hex32(),
    inputHash: hex32(),
    inputURI: "",
    tier: 1,
    fee: "1000",
    deadline: 2_000_000,
    callbackGasLimit: 0,
    state: "requested",
    block: 1,
    observedAt: Date.now(),
  });
  const { id: _id, ...rest } = fields;
  db.updateRequest(id, rest);
  return db.getRequest(id)!;
}
