/**
 * One signature per batch of results (docs/V2.md §3). Served jobs hand their result here instead of
 * signing it alone; results for the same (chain, oracle, payee) are collected and, when `maxItems` are
 * waiting or `maxWaitMs` after the first one arrived, signed as ONE `ResultBatch(resultsRoot, payee)`
 * (the noble signer, worker/signer.ts) and published as one ResultBatchMessage. The relayer submits the
 * batch whole (it cannot split what the worker signed).
 *
 * Crash safety: `add` resolves only once the batch holding the result is published, so a job is acked
 * only after its result left the worker; if publishing fails every waiting job fails with it and the
 * queue redelivers them (each is served and signed again, in a later batch).
 */
import type { TypedDataDomain } from "ethers";
import { resultsRoot, OracleError, ResultBatchMessageSchema, type BatchItem, type ResultBatchMessage, type Hex } from "../protocol/index.js";

export interface ResultBatcherOptions {
  /** Most results in one signed batch (1: one signature per result). */
  maxItems: number;
  /** Longest a result waits for others before its batch is signed (ms). */
  maxWaitMs: number;
  /** The worker's signer address and its one-signature-per-batch function. */
  signer: string;
  sign: (domain: TypedDataDomain, statement: { resultsRoot: Hex; payee: string }) => Hex;
  /** Publishes one signed batch (the worker: to QUEUES.results). */
  publish: (message: ResultBatchMessage) => Promise<void>;
  /** Called after each published batch (logs, metrics). */
  onBatch?: (message: ResultBatchMessage, signMs: number) => void;
}

interface Pending {
  domain: TypedDataDomain;
  chainId: string;
  oracle: string;
  payee: string;
  items: BatchItem[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
  timer: NodeJS.Timeout | undefined;
}

export class ResultBatcher {
  private readonly groups = new Map<string, Pending>();
  private closed = false;

  constructor(private readonly options: ResultBatcherOptions) {
    if (!Number.isInteger(options.maxItems) || options.maxItems < 1) throw new TypeError("maxItems must be a positive integer");
  }

  /** Adds one result; resolves when the signed batch holding it is published, rejects if that fails. */
  add(domain: TypedDataDomain, chainId: string, oracle: string, payee: string, item: BatchItem): Promise<void> {
    if (this.closed) return Promise.reject(new OracleError("TIMEOUT", "the result batcher is closed", { retryable: true }));
    const key = `${chainId}:${oracle.toLowerCase()}:${payee.toLowerCase()}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { domain, chainId, oracle, payee, items: [], waiters: [], timer: undefined };
      this.groups.set(key, group);
    }
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    group.items.push(item);
    if (group.items.length >= this.options.maxItems) {
      this.flush(key);
    } else if (group.timer === undefined) {
      group.timer = setTimeout(() => this.flush(key), this.options.maxWaitMs);
    }
    return done;
  }

  /** Signs and publishes what waits under `key` now. */
  private flush(key: string): void {
    const group = this.groups.get(key);
    if (group === undefined) return;
    this.groups.delete(key);
    if (group.timer !== undefined) clearTimeout(group.timer);
    void this.publish(group);
  }

  private async publish(group: Pending): Promise<void> {
    try {
      const started = performance.now();
      const entries = group.items.map((i) => ({ requestId: i.requestId, outputHash: i.outputHash }));
      const signature = this.options.sign(group.domain, { resultsRoot: resultsRoot(entries), payee: group.payee });
      const signMs = performance.now() - started;
      // The items were checked one by one when served; the envelope is checked here, except the outputs'
      // hex, which bytesToHex produced (a regex over a large output costs milliseconds).
      ResultBatchMessageSchema.omit({ items: true }).parse({
        kind: "batch",
        chainId: group.chainId,
        oracle: group.oracle,
        payee: group.payee,
        signer: this.options.signer,
        signature,
      });
      const message: ResultBatchMessage = {
        kind: "batch",
        chainId: group.chainId,
        oracle: group.oracle,
        payee: group.payee,
        signer: this.options.signer,
        signature,
        items: group.items,
      };
      await this.options.publish(message);
      this.options.onBatch?.(message, signMs);
      for (const w of group.waiters) w.resolve();
    } catch (error) {
      for (const w of group.waiters) w.reject(error);
    }
  }

  /** Signs and publishes everything waiting now (shutdown), then refuses new results. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const key of [...this.groups.keys()]) {
      const group = this.groups.get(key)!;
      waits.push(...group.waiters.map((_, i) => new Promise<void>((resolve) => {
        const w = group.waiters[i]!;
        const { resolve: r0, reject: j0 } = w;
        w.resolve = () => { r0(); resolve(); };
        w.reject = (e) => { j0(e); resolve(); };
      })));
      this.flush(key);
    }
    await Promise.all(waits);
  }
}
