/**
 * EventWatcher: the relayer's only reader of logs. It follows the oracle (and the ChainedInference
 * and RedundantInference contracts the relayer serves) with a confirmation depth and a persisted
 * cursor, decodes each confirmed block range once into domain events (events.ts) and hands them,
 * in chain order, to its subscribers: the request ledger, the job dispatcher, the dashboard's
 * activity, the chain advancer and the redundancy attester. The cursor is saved only after every
 * subscriber handled a range, so a crash hands the range over again (subscribers are idempotent).
 *
 * Reorgs: the hash of the last block of every handled range (and of every block an event came
 * from) is kept for the last `reorgWindow` blocks. Each poll compares the stored hash at the cursor
 * with the chain's; on a mismatch it walks back to the highest stored block still on the chain (the
 * fork point), tells the subscribers (the ledger reconciles the requests touched after it), rewinds
 * the cursor there and re-scans.
 */
import { OracleError, type Logger } from "../protocol/index.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";
import { ORACLE_EVENTS, decodeEvents, type EventOf, type EventSubscriber } from "./events.js";

const CURSOR_KEY = "cursor";

export interface WatcherOptions {
  confirmations: number;
  logBlockRange: number;
  startBlock: number;
  reorgWindow?: number;
}

export class EventWatcher {
  private readonly subscribers: EventSubscriber[] = [];
  /** Feature contracts followed, by role (address, lower case). */
  private readonly chained = new Set<string>();
  private readonly redundant = new Set<string>();
  /** Contracts added at run time below the cursor: their past logs are read once, from their start block. */
  private readonly backfill: { address: string; role: "chained" | "redundant"; from: number }[] = [];

  /** Reorgs detected (for tests, logs and metrics). */
  readonly reorgs: { at: number; forkBlock: number; depth: number; reconciled: number }[] = [];

  constructor(
    private readonly chain: Pick<OracleChain, "provider" | "oracleAddress">,
    private readonly db: RelayerDb,
    private readonly log: Logger,
    private readonly options: WatcherOptions,
  ) {}

  /** Adds a subscriber; subscribers are called in the order they subscribed. */
  subscribe(subscriber: EventSubscriber): void {
    this.subscribers.push(subscriber);
  }

  /** Follows one more feature contract's events, from `fromBlock` (default: the start block). */
  follow(role: "chained" | "redundant", address: string, fromBlock = this.options.startBlock): void {
    const key = address.toLowerCase();
    const set = role === "chained" ? this.chained : this.redundant;
    if (set.has(key)) return;
    set.add(key);
    if (fromBlock <= this.cursor()) this.backfill.push({ address: key, role, from: fromBlock });
  }

  cursor(): number {
    const saved = this.db.getMeta(CURSOR_KEY);
    return saved === undefined ? this.options.startBlock - 1 : Number(saved);
  }

  private get window(): number {
    return this.options.reorgWindow ?? 128;
  }

  /** Handles every confirmed block not yet handled. Returns the new cursor. */
  async poll(): Promise<number> {
    const head = await this.chain.provider.getBlockNumber();
    await this.checkReorg();
    await this.backfillContracts();
    const safe = head - this.options.confirmations;
    let from = this.cursor() + 1;
    while (from <= safe) {
      const to = Math.min(safe, from + this.options.logBlockRange - 1);
      await this.scan(from, to);
      from = to + 1;
    }
    return from - 1;
  }

  private addresses(): string[] {
    return [this.chain.oracleAddress, ...this.chained, ...this.redundant];
  }

  private async scan(from: number, to: number): Promise<void> {
    const logs = await this.chain.provider.getLogs({ address: this.addresses(), fromBlock: from, toBlock: to });
    const last = await this.chain.provider.getBlock(to);
    if (last === null || last.hash === null) throw new OracleError("CHAIN_UNAVAILABLE", `the node returned no block ${to}`, { retryable: true });
    if (logs.some((l) => l.blockNumber === to && l.blockHash !== last.hash)) {
      throw new OracleError("CHAIN_UNAVAILABLE", `block ${to} changed while it was read (reorg); reading again`, { retryable: true });
    }
    logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    const events = decodeEvents(logs, { oracle: this.chain.oracleAddress, chained: this.chained, redundant: this.redundant });
    for (const s of this.subscribers) await s.onEvents(events, { from, to });
    const hashes = new Map(logs.filter((l) => l.blockNumber > to - this.window).map((l) => [l.blockNumber, l.blockHash]));
    hashes.set(to, last.hash);
    this.db.advanceCursor(CURSOR_KEY, to, hashes, to - this.window);
  }

  /** Reads, once, the past logs of feature contracts added below the cursor (only theirs). */
  private async backfillContracts(): Promise<void> {
    const cursor = this.cursor();
    while (this.backfill.length > 0) {
      const { address, role, from } = this.backfill[0]!;
      for (let start = from; start <= cursor; start += this.options.logBlockRange) {
        const end = Math.min(cursor, start + this.options.logBlockRange - 1);
        const logs = await this.chain.provider.getLogs({ address, fromBlock: start, toBlock: end });
        logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
        const sources = { oracle: this.chain.oracleAddress, chained: role === "chained" ? [address] : [], redundant: role === "redundant" ? [address] : [] };
        const events = decodeEvents(logs, sources);
        for (const s of this.subscribers) await s.onEvents(events, { from: start, to: end });
        this.backfill[0]!.from = end + 1;
      }
      this.backfill.shift();
    }
  }

  /** The InferenceRequested event of `requestId`, read back from its block (a restart lost its inline input). */
  async requestedEvent(requestId: string, block: number): Promise<EventOf<"requested"> | undefined> {
    const topics = ORACLE_EVENTS.encodeFilterTopics("InferenceRequested", [requestId]);
    const logs = await this.chain.provider.getLogs({ address: this.chain.oracleAddress, fromBlock: block, toBlock: block, topics });
    const events = decodeEvents(logs, { oracle: this.chain.oracleAddress, chained: [], redundant: [] });
    return events.find((e): e is EventOf<"requested"> => e.kind === "requested");
  }

  /**
   * Compares the stored hashes of handled blocks with the chain's; on a mismatch rewinds to the
   * highest stored block still on the chain and has the subscribers reconcile what happened after it.
   */
  private async checkReorg(): Promise<void> {
    const cursor = this.cursor();
    const stored = this.db.recentBlocks(cursor, this.window);
    if (stored.length === 0) return;
    let fork: number | undefined;
    let mismatched = false;
    for (const b of stored) {
      const block = await this.chain.provider.getBlock(b.number);
      if (block !== null && block.hash === b.hash) {
        fork = b.number;
        break;
      }
      mismatched = true;
    }
    if (!mismatched) return;
    if (fork === undefined) {
      fork = stored[stored.length - 1]!.number - 1;
      this.log.error({ deepest: fork + 1, window: this.window }, "reorg deeper than the stored window; re-scanning from its bottom");
    }
    let reconciled = 0;
    for (const s of this.subscribers) reconciled += Number((await s.onRewind?.(fork)) ?? 0);
    this.db.rewindCursor(CURSOR_KEY, fork);
    this.reorgs.push({ at: Date.now(), forkBlock: fork, depth: cursor - fork, reconciled });
    this.log.warn({ forkBlock: fork, depth: cursor - fork, reconciled }, "reorg detected; re-scanning from the fork");
  }
}
