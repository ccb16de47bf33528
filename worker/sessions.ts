/**
 * An LRU cache of open inference sessions, keyed by model hash and the provider preferences.
 * Sessions hold native memory (weights on the GPU), so evicted ones are released, but only once
 * the runs that borrowed them have finished (each borrow is a lease with a reference count).
 */
import type { Logger } from "pino";
import type { Hex } from "../protocol/index.js";
import type { InferenceSessionLike } from "./ort-thread.js";
import type { OpenedSession, ProbeAttempt } from "./providers.js";
import type { ProviderName } from "./config.js";

export interface SessionInfo {
  modelHash: Hex;
  provider: ProviderName;
  /** An ort.InferenceSession, or its proxy in an inference thread (worker/ort-thread.ts). */
  session: InferenceSessionLike;
  inputNames: readonly string[];
  outputNames: readonly string[];
  attempts: readonly ProbeAttempt[];
}

/** A borrowed session: call `release()` when the run is done (once; later calls do nothing). */
export interface SessionLease extends SessionInfo {
  release(): void;
}

export interface SessionCacheOptions {
  capacity: number;
  /** Opens a session for a model file (the provider prober). */
  open: (modelPath: string, context: Record<string, unknown>) => Promise<OpenedSession>;
  /** Distinguishes caches with different provider preferences in the key. */
  providerKey: string;
  logger: Logger;
}

interface Entry {
  key: string;
  info: SessionInfo;
  leases: number;
  evicted: boolean;
}

export class SessionCache {
  private readonly log: Logger;
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly opening = new Map<string, Promise<Entry>>();
  private readonly releasing = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SessionCacheOptions) {
    this.log = options.logger.child({ layer: "sessions" });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Model hashes held, least recently used first. */
  keys(): string[] {
    return [...this.entries.values()].map((e) => e.info.modelHash);
  }

  /** Borrows the session for `modelHash`, opening `modelPath` if it is not cached. */
  async acquire(modelHash: Hex, modelPath: string): Promise<SessionLease> {
    if (this.closed) throw new Error("the session cache is closed");
    const key = `${modelHash.toLowerCase()}|${this.options.providerKey}`;
    let entry = this.entries.get(key);
    if (entry !== undefined && entry.info.session.alive === false) {
      // Its model process was killed (a memory or time limit): open a fresh one for this job.
      this.entries.delete(key);
      entry.evicted = true;
      this.log.info({ modelHash: entry.info.modelHash, provider: entry.info.provider }, "session dead (its model process was killed); reopening");
      if (entry.leases === 0) this.releaseNative(entry);
      entry = undefined;
    }
    if (entry !== undefined) {
      // Touch: move to the most recently used end.
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      let pending = this.opening.get(key);
      if (pending === undefined) {
        pending = this.openEntry(key, modelHash, modelPath).finally(() => this.opening.delete(key));
        this.opening.set(key, pending);
      }
      // Possibly evicted again (a burst of other models) or opened after close(): still usable for
      // this run, and released when its last lease ends.
      entry = await pending;
    }
    return this.lease(entry);
  }

  private async openEntry(key: string, modelHash: Hex, modelPath: string): Promise<Entry> {
    const opened = await this.options.open(modelPath, { modelHash });
    const { session } = opened;
    const entry: Entry = {
      key,
      leases: 0,
      evicted: false,
      info: {
        modelHash,
        provider: opened.provider,
        session,
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        attempts: opened.attempts,
      },
    };
    if (this.closed) {
      entry.evicted = true;
      return entry;
    }
    this.entries.set(key, entry);
    this.evictOverflow();
    return entry;
  }

  private lease(entry: Entry): SessionLease {
    entry.leases += 1;
    let released = false;
    return {
      ...entry.info,
      release: () => {
        if (released) return;
        released = true;
        entry.leases -= 1;
        if (entry.evicted && entry.leases === 0) this.releaseNative(entry);
      },
    };
  }

  private evictOverflow(): void {
    while (this.entries.size > this.options.capacity) {
      const oldest = this.entries.values().next().value as Entry;
      this.entries.delete(oldest.key);
      oldest.evicted = true;
      this.log.info({ modelHash: oldest.info.modelHash, provider: oldest.info.provider, leases: oldest.leases }, "session evicted");
      if (oldest.leases === 0) this.releaseNative(oldest);
    }
  }

  private releaseNative(entry: Entry): void {
    const p = entry.info.session
      .release()
      .catch((err: unknown) => this.log.warn({ modelHash: entry.info.modelHash, err }, "releasing a session failed"))
      .finally(() => this.releasing.delete(p));
    this.releasing.add(p);
  }

  /**
   * Releases every session once its runs are done. Safe to call twice. Callers wait for in-flight
   * runs first (the worker does); sessions still leased are released when their lease ends.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.opening.values()]);
      for (const entry of this.entries.values()) {
        entry.evicted = true;
        if (entry.leases === 0) this.releaseNative(entry);
      }
      this.entries.clear();
      await Promise.allSettled([...this.releasing]);
    })();
    return this.closing;
  }
}
