/**
 * The worker's input cache: the input of every OPTIMISTIC result it signed, kept until the request
 * settles, so that a FraudGame opened on the result can be answered (worker/game-answerer.ts rebuilds the
 * canonical trace from the input). A request sent by URI names its input only by a link the requester may take
 * down once the result is in; an inline input is in the request's event and needs no cache, but is cached the
 * same way (one path).
 *
 * Bounded twice: the newest `memoryBytes` of inputs stay in memory, and at most `maxBytes` / `maxEntries` are
 * kept on disk under `dir` (one file per request, named by its id); past either bound the oldest entry goes. A
 * missing entry (evicted, or lost with the disk) is refetched by `refetch` (the blob store by hash, then the
 * request's URI). Every read is checked against the request's inputHash: a corrupted or substituted file is
 * dropped, never answered from.
 *
 * The disk write is asynchronous (a synchronous open and write would cost the worker's JS thread
 * ~0.6 ms per OPTIMISTIC job): `put` registers the entry at once and returns a promise that resolves once the
 * file is in place; the worker awaits it before the job's result leaves, so the input is on disk before the
 * result can be disputed, and meanwhile it runs on libuv's threads beside the inference. Until then the bytes
 * are served from memory.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashEncoded, BYTES32_LOWER_PATTERN } from "../protocol/index.js";

export interface InputCacheOptions {
  /** Folder of the cached inputs (created; entries found there at start are kept, oldest first by mtime). */
  dir: string;
  /** Most bytes kept on disk (default 1 GiB). */
  maxBytes?: number;
  /** Most entries kept on disk (default 100,000). */
  maxEntries?: number;
  /** Most bytes also held in memory (default 64 MiB). */
  memoryBytes?: number;
}

interface Entry {
  inputHash: string;
  bytes: number;
}

const ID = BYTES32_LOWER_PATTERN;

export class InputCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly memoryBytes: number;
  /** On disk, oldest first (Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private readonly memory = new Map<string, Buffer>();
  private diskBytes = 0;
  private memoryUsed = 0;
  /** Entries whose file is being written: their bytes (served from here) and the write. */
  private readonly writing = new Map<string, { bytes: Buffer; file: string; done: Promise<void> }>();

  constructor(o: InputCacheOptions) {
    this.dir = o.dir;
    this.maxBytes = o.maxBytes ?? 1024 ** 3;
    this.maxEntries = o.maxEntries ?? 100_000;
    this.memoryBytes = o.memoryBytes ?? 64 * 1024 ** 2;
    if (!(this.maxBytes > 0 && this.maxEntries > 0 && this.memoryBytes >= 0)) throw new RangeError("input cache bounds must be positive");
    mkdirSync(this.dir, { recursive: true });
    const found: Array<{ id: string; inputHash: string; bytes: number; mtime: number }> = [];
    for (const name of readdirSync(this.dir)) {
      const [id, inputHash, ext, ...rest] = name.split(".");
      if (ext !== "bin" || rest.length > 0 || !BYTES32_LOWER_PATTERN.test(id!) || !BYTES32_LOWER_PATTERN.test(inputHash!)) continue;
      const st = statSync(join(this.dir, name));
      found.push({ id: id!, inputHash: inputHash!, bytes: st.size, mtime: st.mtimeMs });
    }
    for (const f of found.sort((a, b) => a.mtime - b.mtime)) {
      this.entries.set(f.id, { inputHash: f.inputHash, bytes: f.bytes });
      this.diskBytes += f.bytes;
    }
    this.evict();
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.diskBytes;
  }

  has(requestId: string): boolean {
    return this.entries.has(requestId.toLowerCase());
  }

  /**
   * Keeps a copy of `bytes` (the encoded input, already checked against `inputHash`) for `requestId`. Resolves once the file is on disk (rejects if it cannot be written: the
   * entry is then dropped and a dispute refetches the input).
   */
  put(requestId: string, inputHash: string, input: Uint8Array): Promise<void> {
    // A copy: the caller's bytes may view a larger message buffer, or change.
    const bytes = Buffer.from(input);
    const id = requestId.toLowerCase();
    const hash = inputHash.toLowerCase();
    if (!ID.test(id) || !ID.test(hash)) throw new TypeError(`input cache keys are 32-byte hex ids; got ${requestId} / ${inputHash}`);
    if (bytes.byteLength > this.maxBytes) return Promise.resolve(); // larger than the whole cache: refetched when needed
    this.delete(id);
    const file = this.file(id, hash);
    const previous = this.writing.get(id)?.done ?? Promise.resolve();
    const write = { bytes, file, done: Promise.resolve() };
    // After any earlier write of the same id (a put, delete, put in a row) so files land in order.
    write.done = previous.then(async () => {
      try {
        // Straight to its name, no temporary file and rename (one thread-pool round trip less per job): a
        // file cut short by a crash is adopted at the next start like any other and dropped by the hash
        // check of its first read, exactly as a corrupted one.
        await writeFile(file, bytes);
      } catch (error) {
        await rm(file, { force: true }).catch(() => undefined);
        if (this.writing.get(id) === write) this.delete(id);
        throw error;
      } finally {
        if (this.writing.get(id) === write) this.writing.delete(id);
      }
      // Deleted (or replaced) while it was written: the file is not wanted.
      if (this.entries.get(id)?.inputHash !== hash || this.writing.has(id)) await rm(file, { force: true }).catch(() => undefined);
    });
    this.writing.set(id, write);
    this.entries.set(id, { inputHash: hash, bytes: bytes.byteLength });
    this.diskBytes += bytes.byteLength;
    this.remember(id, bytes);
    this.evict();
    return write.done;
  }

  /** Resolves once every write started so far has finished (successfully or not). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writing.values()].map((w) => w.done));
  }

  /** The cached input of `requestId` when it is held and still hashes to its inputHash; else undefined. */
  get(requestId: string): Buffer | undefined {
    const id = requestId.toLowerCase();
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    let bytes = this.memory.get(id);
    const pending = this.writing.get(id);
    if (bytes === undefined && pending !== undefined) bytes = pending.bytes;
    if (bytes === undefined) {
      try {
        bytes = readFileSync(this.file(id, e.inputHash));
      } catch {
        this.delete(id);
        return undefined;
      }
    }
    if (hashEncoded(bytes).toLowerCase() !== e.inputHash) {
      this.delete(id);
      return undefined;
    }
    this.remember(id, bytes);
    return bytes;
  }

  /** Drops one request's input (its request settled). */
  delete(requestId: string): void {
    const id = requestId.toLowerCase();
    const e = this.entries.get(id);
    if (e === undefined) return;
    this.entries.delete(id);
    this.diskBytes -= e.bytes;
    this.forget(id);
    // A file still being written is removed by its write when it lands (see put).
    if (!this.writing.has(id)) rmSync(this.file(id, e.inputHash), { force: true });
  }

  /** Request ids held, oldest first. */
  ids(): string[] {
    return [...this.entries.keys()];
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

  private file(id: string, inputHash: string): string {
    return join(this.dir, `${id}.${inputHash}.bin`);
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
    for (const id of this.entries.keys()) {
      if (this.diskBytes <= this.maxBytes && this.entries.size <= this.maxEntries) break;
      this.delete(id);
    }
  }
}
