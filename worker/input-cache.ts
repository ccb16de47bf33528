/**
 * The worker's input cache: the input of every OPTIMISTIC result it signed, kept until the request
 * settles, so that a FraudGame opened on the result can be answered (worker/game-answerer.ts rebuilds the
 * canonical trace from the input). A request sent by URI names its input only by a link the requester may take
 * down once the result is in; an inline input is in the request's event and needs no cache, but is cached the
 * same way (one path).
 *
 * Bounded twice: the newest `memoryBytes` of inputs stay in memory, and at most `maxBytes` / `maxEntries` of
 * live inputs are kept on disk under `dir`; past either bound the oldest entry goes. On disk the inputs are
 * an append-only log of segment files (worker/input-log.ts: one positioned write per batch of inputs, a
 * torn tail found and cut on reopen, compaction keeping the files within about `maxBytes` plus two
 * segments). A missing entry (evicted, or lost with the disk) is refetched by `refetch` (the blob store by
 * hash, then the request's URI). Every read is checked against the request's inputHash: a corrupted or
 * substituted record is dropped, never answered from.
 *
 * The write is asynchronous (on libuv's threads, beside the inference): `put` registers the entry at once
 * and returns a promise that resolves once its record is written; the worker awaits it before the job's
 * result leaves, so the input is on disk before the result can be disputed. Until then the bytes are
 * served from memory. A folder of the earlier file-per-input form (`<requestId>.<inputHash>.bin`) is
 * imported into the log once, at start.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BYTES32_LOWER_PATTERN, hashBundleEncoded } from "../protocol/index.js";
import { abandonedInstances, releaseFolder, takeFolder } from "./input-lock.js";
import { InputLog } from "./input-log.js";

export interface InputCacheOptions {
  /** Folder of the cache's log (created; the inputs found there at start are kept; held by one cache at a time). */
  dir: string;
  /** Most bytes of live inputs kept on disk (default 1 GiB). */
  maxBytes?: number;
  /** Most entries kept on disk (default 100,000). */
  maxEntries?: number;
  /** Most bytes also held in memory (default 64 MiB). */
  memoryBytes?: number;
  /** Size at which a log segment is closed and a new one begun (default maxBytes / 8, within 64 KiB-64 MiB). */
  segmentBytes?: number;
}

const ID = BYTES32_LOWER_PATTERN;
const LEGACY = /^(0x[0-9a-f]{64})\.(0x[0-9a-f]{64})\.bin$/;

/** Whether `bytes` is the input `inputHash` names (a bare tensor or a bundle); false when it does not decode. */
function holds(inputHash: string, bytes: Uint8Array): boolean {
  try {
    return hashBundleEncoded(bytes).toLowerCase() === inputHash;
  } catch {
    return false;
  }
}

export class InputCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly memoryBytes: number;
  private readonly log: InputLog;
  private readonly memory = new Map<string, Buffer>();
  private memoryUsed = 0;

  constructor(o: InputCacheOptions) {
    this.dir = o.dir;
    this.maxBytes = o.maxBytes ?? 1024 ** 3;
    this.maxEntries = o.maxEntries ?? 100_000;
    this.memoryBytes = o.memoryBytes ?? 64 * 1024 ** 2;
    const segmentBytes = o.segmentBytes ?? Math.min(64 * 1024 ** 2, Math.max(64 * 1024, Math.floor(this.maxBytes / 8)));
    if (!(this.maxBytes > 0 && this.maxEntries > 0 && this.memoryBytes >= 0 && segmentBytes > 0)) throw new RangeError("input cache bounds must be positive");
    mkdirSync(o.dir, { recursive: true });
    // One writer per folder (worker/input-lock.ts): a folder another cache holds gets a subfolder of ours.
    this.dir = takeFolder(o.dir);
    // The files stay within the live bound plus the newest (partly written) segment and one being emptied.
    this.log = new InputLog({ dir: this.dir, segmentBytes, maxFileBytes: this.maxBytes + 2 * segmentBytes, verify: holds });
    this.importLegacy();
    if (this.dir === o.dir) for (const folder of abandonedInstances(this.dir)) this.importInstance(folder, segmentBytes);
    this.evict();
  }

  get size(): number {
    return this.log.entries.size;
  }

  /** Bytes of the live inputs. */
  get bytes(): number {
    return this.log.bytes;
  }

  /** Bytes of the log's files (live inputs and records not yet reclaimed). */
  get fileBytes(): number {
    return this.log.fileBytes;
  }

  has(requestId: string): boolean {
    return this.log.entries.has(requestId.toLowerCase());
  }

  /**
   * Keeps `input` (the encoded input, already checked against `inputHash`) for `requestId`. Resolves once
   * its record is written (rejects if it cannot be: the entry is then dropped and a dispute refetches the
   * input). The bytes are held, not copied, unless they view a much larger buffer (a message's): the caller
   * must not change them (every read is hash-checked, so a change would drop the entry, never serve it).
   */
  put(requestId: string, inputHash: string, input: Uint8Array): Promise<void> {
    const id = requestId.toLowerCase();
    const hash = inputHash.toLowerCase();
    if (!ID.test(id) || !ID.test(hash)) throw new TypeError(`input cache keys are 32-byte hex ids; got ${requestId} / ${inputHash}`);
    if (input.byteLength > this.maxBytes) return Promise.resolve(); // larger than the whole cache: refetched when needed
    const bytes = 2 * input.byteLength < input.buffer.byteLength ? Buffer.from(input) : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.forget(id);
    const written = this.log.put(id, hash, bytes);
    this.remember(id, bytes);
    this.evict();
    return written;
  }

  /** Resolves once every write started so far has finished (successfully or not). */
  flush(): Promise<void> {
    return this.log.flush();
  }

  /** Writes what is pending and closes the log's files; safe to call twice. Later puts are refused. */
  async close(): Promise<void> {
    await this.log.close();
    releaseFolder(this.dir);
  }

  /** The cached input of `requestId` when it is held and still hashes to its inputHash; else undefined. */
  get(requestId: string): Buffer | undefined {
    const id = requestId.toLowerCase();
    const e = this.log.entries.get(id);
    if (e === undefined) return undefined;
    const bytes = this.memory.get(id) ?? this.log.read(id);
    if (bytes === undefined || !holds(e.inputHash, bytes)) {
      this.delete(id);
      return undefined;
    }
    this.remember(id, bytes);
    return bytes;
  }

  /** Drops one request's input (its request settled). */
  delete(requestId: string): void {
    const id = requestId.toLowerCase();
    this.forget(id);
    this.log.delete(id);
  }

  /** Request ids held, oldest first. */
  ids(): string[] {
    return [...this.log.entries.keys()];
  }

  /**
   * Drops the inputs of settled requests: `open(id)` says whether a request can still be disputed (its result
   * unsettled or its dispute running). At most `limit` ids are asked about per call, oldest first.
   */
  async prune(open: (requestId: string) => Promise<boolean>, limit = 64): Promise<number> {
    let dropped = 0;
    for (const id of this.ids().slice(0, limit)) {
      if (!(await open(id))) {
        this.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Moves the inputs of a file-per-input folder (the cache's earlier form) into the log, oldest first. */
  private importLegacy(): void {
    const found = readdirSync(this.dir).flatMap((name) => {
      const m = LEGACY.exec(name);
      return m === null ? [] : [{ name, id: m[1]!, inputHash: m[2]!, mtime: statSync(join(this.dir, name)).mtimeMs }];
    });
    for (const f of found.sort((a, b) => a.mtime - b.mtime)) {
      const file = join(this.dir, f.name);
      const bytes = readFileSync(file);
      // A file cut short by a crash, or changed: not imported (a dispute refetches the input).
      if (holds(f.inputHash, bytes)) this.log.importSync(f.id, f.inputHash, bytes);
      rmSync(file, { force: true });
    }
  }

  /** Moves the inputs of a subfolder whose cache's process is gone into this log, then removes it. */
  private importInstance(folder: string, segmentBytes: number): void {
    const other = new InputLog({ dir: folder, segmentBytes, maxFileBytes: Infinity, verify: holds });
    for (const [id, e] of other.entries) {
      if (this.log.entries.has(id)) continue; // this log's own record of the request is kept
      const bytes = other.read(id);
      if (bytes !== undefined && holds(e.inputHash, bytes)) this.log.importSync(id, e.inputHash, bytes);
    }
    void other.close();
    rmSync(folder, { recursive: true, force: true });
  }

  private remember(id: string, bytes: Buffer): void {
    this.forget(id);
    if (bytes.byteLength > this.memoryBytes) return;
    this.memory.set(id, bytes);
    this.memoryUsed += bytes.byteLength;
    for (const [k, b] of this.memory) {
      if (this.memoryUsed <= this.memoryBytes) break;
      this.memory.delete(k);
      this.memoryUsed -= b.byteLength;
    }
  }

  private forget(id: string): void {
    const b = this.memory.get(id);
    if (b === undefined) return;
    this.memory.delete(id);
    this.memoryUsed -= b.byteLength;
  }

  private evict(): void {
    for (const id of this.log.entries.keys()) {
      if (this.log.bytes <= this.maxBytes && this.log.entries.size <= this.maxEntries) break;
      this.delete(id);
    }
  }
}
