/**
 * The input cache's storage (worker/input-cache.ts): an append-only log of records in segment files
 * `inputs-<n>.log` under one folder, so that keeping an OPTIMISTIC job's input costs one positioned write
 * (one libuv thread-pool round trip, shared by every input that arrives while the previous write runs:
 * they go out as one `writev`) instead of a file per input (open, write, close: three round trips).
 *
 * A record is an 88-byte header and, for a put, the input's bytes:
 *
 *   magic "ILG1" u32 | kind u8 (1 put, 2 delete) | 3 zero bytes | length u32 | seq u48 | 2 zero bytes |
 *   request id (32 bytes) | inputHash (32 bytes; zero for a delete) | crc32 of the 84 bytes before it, u32
 *
 * all little-endian. Crash safety: a process that dies mid-write leaves at most the newest segment's tail
 * torn. On reopen every header is checked (magic, kind, crc, length within the file): the first that fails
 * ends its segment (the newest is truncated there, so new records follow the last good one). The newest
 * segment's puts are also checked against their inputHash, and one whose bytes are not its input is
 * skipped. Payloads of older segments are checked when read (the cache hashes every input it serves). No fsync: a machine crash may lose the
 * newest inputs, which a dispute then refetches by hash or URI.
 *
 * Bounded: a segment is closed once it reaches `segmentBytes`; a closed segment with nothing live left is
 * deleted, and while the files hold more than `maxFileBytes` the oldest closed segment is compacted (its
 * live puts copied to the newest with their sequence numbers, then the file deleted). A delete's record
 * only ever cancels puts written before it, so dropping the oldest segment's deletes with it loses nothing.
 * Replaying the records in log order (segments by number, records by offset) rebuilds the index; the
 * sequence numbers keep the entries' age (eviction order) across compactions.
 */
import { closeSync, openSync, readdirSync, readSync, statSync, unlinkSync, ftruncateSync, writeSync, fdatasync, ftruncate, read, writev } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";

export const RECORD_HEADER_BYTES = 88;
const MAGIC = 0x31474c49; // "ILG1"
const PUT = 1;
const DELETE = 2;
const CRC_AT = 84;
const MAX_RECORDS_PER_WRITE = 256; // 512 buffers per writev, under IOV_MAX (1024)
const SEGMENT = /^inputs-(\d{8})\.log$/;

export interface LogEntry {
  inputHash: string;
  bytes: number;
  seq: number;
  /** The segment and the payload's offset in it; segment -1 while the record waits to be written. */
  segment: number;
  offset: number;
  /** The bytes until they are written (served from here meanwhile). */
  pending?: Buffer;
}

interface Segment {
  no: number;
  fd: number;
  size: number;
  /** Ids whose live put is in this segment. */
  live: Set<string>;
}

interface Queued {
  header: Buffer;
  payload?: Buffer;
  id: string;
  entry?: LogEntry;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface InputLogOptions {
  dir: string;
  segmentBytes: number;
  maxFileBytes: number;
  /** Whether a payload read back on reopen is the input its header names (the newest segment's tail check). */
  verify: (inputHash: string, payload: Buffer) => boolean;
}

export class InputLog {
  /** Live entries, oldest first. */
  readonly entries = new Map<string, LogEntry>();
  private readonly segments = new Map<number, Segment>();
  private liveBytes = 0;
  private nextSeq = 1;
  private queue: Queued[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: InputLogOptions) {
    const numbers = readdirSync(o.dir).flatMap((name) => (SEGMENT.test(name) ? [Number(SEGMENT.exec(name)![1])] : [])).sort((a, b) => a - b);
    const found = new Map<string, LogEntry>();
    for (const no of numbers) this.replay(no, no === numbers.at(-1), found);
    for (const [id, e] of [...found].sort((a, b) => a[1].seq - b[1].seq)) this.add(id, e);
    for (const s of [...this.segments.values()]) if (s.live.size === 0 && s !== this.active()) this.drop(s);
  }

  get bytes(): number {
    return this.liveBytes;
  }

  /** Bytes of every segment file, live or not. */
  get fileBytes(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.size;
    return n;
  }

  /** Registers `payload` for `id` at once (served by read meanwhile); resolves once its record is written. */
  put(id: string, inputHash: string, payload: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the input cache is closed"));
    this.delete(id);
    const entry: LogEntry = { inputHash, bytes: payload.byteLength, seq: this.nextSeq++, segment: -1, offset: 0, pending: payload };
    this.add(id, entry);
    return this.enqueue({ header: header(PUT, id, inputHash, entry.seq, payload.byteLength), payload, id, entry });
  }

  /** Drops `id`'s entry and appends a delete record (so a restart does not bring it back). */
  delete(id: string): void {
    const e = this.entries.get(id);
    if (e === undefined) return;
    this.remove(id, e);
    if (!this.closed) this.enqueue({ header: header(DELETE, id, undefined, 0, 0), id }).catch(() => undefined);
  }

  /** The bytes of `id` as stored (unchecked: the caller hashes them), or undefined when unreadable. */
  read(id: string): Buffer | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.pending !== undefined) return e.pending;
    const s = this.segments.get(e.segment);
    if (s === undefined) return undefined;
    const out = Buffer.allocUnsafe(e.bytes);
    try {
      for (let at = 0; at < e.bytes; ) {
        const n = readSync(s.fd, out, at, e.bytes - at, e.offset + at);
        if (n === 0) return undefined;
        at += n;
      }
    } catch {
      return undefined;
    }
    return out;
  }

  /** Adds a record synchronously (the one-time import of a file-per-input cache). */
  importSync(id: string, inputHash: string, payload: Buffer): void {
    const seq = this.nextSeq++;
    const s = this.writable(RECORD_HEADER_BYTES + payload.byteLength);
    const h = header(PUT, id, inputHash, seq, payload.byteLength);
    writeSync(s.fd, h, 0, h.length, s.size);
    writeSync(s.fd, payload, 0, payload.length, s.size + RECORD_HEADER_BYTES);
    // No delete record needed: this put follows any earlier record of the id in the log.
    const old = this.entries.get(id);
    if (old !== undefined) this.remove(id, old);
    this.add(id, { inputHash, bytes: payload.byteLength, seq, segment: s.no, offset: s.size + RECORD_HEADER_BYTES });
    s.size += RECORD_HEADER_BYTES + payload.byteLength;
  }

  /** Resolves once every record queued so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /** Writes what is queued, syncs the newest segment and closes the files; later puts are refused. */
  async close(): Promise<void> {
    await this.flush();
    if (this.closed) return;
    this.closed = true;
    const active = this.active();
    if (active !== undefined) await new Promise<void>((resolve) => fdatasync(active.fd, () => resolve()));
    for (const s of this.segments.values()) closeSync(s.fd);
    this.segments.clear();
  }

  private add(id: string, e: LogEntry): void {
    this.entries.set(id, e);
    this.liveBytes += e.bytes;
    if (e.segment >= 0) this.segments.get(e.segment)?.live.add(id);
  }

  private remove(id: string, e: LogEntry): void {
    this.entries.delete(id);
    this.liveBytes -= e.bytes;
    if (e.segment >= 0) this.segments.get(e.segment)?.live.delete(id);
  }

  private replay(no: number, newest: boolean, found: Map<string, LogEntry>): void {
    const fd = openSync(this.path(no), "r+");
    const size = statSync(this.path(no)).size;
    const s: Segment = { no, fd, size, live: new Set() };
    this.segments.set(no, s);
    const h = Buffer.alloc(RECORD_HEADER_BYTES);
    let at = 0;
    while (at + RECORD_HEADER_BYTES <= size) {
      if (readSync(fd, h, 0, RECORD_HEADER_BYTES, at) !== RECORD_HEADER_BYTES) break;
      const r = parseHeader(h);
      if (r === undefined || at + RECORD_HEADER_BYTES + r.length > size) break;
      const offset = at + RECORD_HEADER_BYTES;
      at = offset + r.length;
      // A put whose bytes are not its input (written over, or its length landed before its data): skipped.
      if (r.kind === PUT && newest && !this.payloadHolds(fd, r.inputHash, offset, r.length)) continue;
      if (r.kind === PUT) {
        found.set(r.id, { inputHash: r.inputHash, bytes: r.length, seq: r.seq, segment: no, offset });
        this.nextSeq = Math.max(this.nextSeq, r.seq + 1);
      } else found.delete(r.id);
    }
    // A torn or corrupt tail: nothing after it can be located. The newest segment is cut there so that the
    // records appended next follow the last good one; an older one keeps its readable head.
    if (at < size && newest) ftruncateSync(fd, at);
    s.size = newest ? at : size;
  }

  private payloadHolds(fd: number, inputHash: string, offset: number, length: number): boolean {
    const payload = Buffer.allocUnsafe(length);
    return readSync(fd, payload, 0, length, offset) === length && this.o.verify(inputHash, payload);
  }

  private enqueue(q: Omit<Queued, "resolve" | "reject">): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...q, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // Queued after the loop's last look and before this callback: not left behind.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    // Started from enqueue: let the rest of this tick's records join the first write.
    await Promise.resolve();
    while (this.queue.length > 0) {
      // Records queued while one write runs go out together as the next (one thread-pool round trip).
      await this.write(this.queue.splice(0, MAX_RECORDS_PER_WRITE));
      // Reclaiming space is best effort: a failure leaves the files larger, never an entry wrong.
      await this.reclaim().catch(() => undefined);
    }
  }

  private async write(batch: Queued[]): Promise<void> {
    let total = 0;
    for (const q of batch) total += q.header.length + (q.payload?.length ?? 0);
    let s: Segment;
    try {
      s = this.writable(total);
    } catch (error) {
      return this.failed(batch, error);
    }
    const start = s.size;
    const buffers: Buffer[] = [];
    for (const q of batch) buffers.push(q.header, ...(q.payload === undefined ? [] : [q.payload]));
    const error = await new Promise<unknown>((resolve) => writev(s.fd, buffers, start, (e, n) => resolve(e ?? (n === total ? undefined : new Error(`short write: ${n} of ${total} bytes`)))));
    if (error !== undefined) {
      await new Promise<void>((resolve) => ftruncate(s.fd, start, () => resolve()));
      return this.failed(batch, error);
    }
    s.size += total;
    let at = start;
    for (const q of batch) {
      at += q.header.length;
      // Deleted (or put again) while written: the record is dead on arrival (a delete record follows it).
      if (q.entry !== undefined && this.entries.get(q.id) === q.entry) {
        q.entry.segment = s.no;
        q.entry.offset = at;
        q.entry.pending = undefined;
        s.live.add(q.id);
      }
      at += q.payload?.length ?? 0;
      q.resolve();
    }
  }

  private failed(batch: Queued[], error: unknown): void {
    for (const q of batch) {
      if (q.entry !== undefined && this.entries.get(q.id) === q.entry) this.remove(q.id, q.entry);
      q.reject(error);
    }
  }

  /** Deletes closed segments with nothing live; compacts the oldest closed ones while the files exceed their bound. */
  private async reclaim(): Promise<void> {
    const active = this.active();
    for (const s of [...this.segments.values()]) {
      if (s === active) break;
      if (s.live.size === 0) this.drop(s);
      else if (this.fileBytes > this.o.maxFileBytes) await this.compact(s);
    }
  }

  private async compact(s: Segment): Promise<void> {
    for (const id of [...s.live]) {
      const e = this.entries.get(id)!;
      const payload = Buffer.allocUnsafe(e.bytes);
      const n = await new Promise<number>((resolve) => read(s.fd, payload, 0, e.bytes, e.offset, (err, got) => resolve(err === null ? got : -1)));
      // Deleted meanwhile (its delete record is queued behind), or unreadable: not carried over.
      if (this.entries.get(id) !== e) continue;
      if (n !== e.bytes) {
        this.remove(id, e);
        continue;
      }
      // Moved in place (its age, the Map's order, stays); served from memory until the copy is written.
      s.live.delete(id);
      e.segment = -1;
      e.pending = payload;
      await this.write([{ header: header(PUT, id, e.inputHash, e.seq, e.bytes), payload, id, entry: e, resolve: () => undefined, reject: () => undefined }]);
    }
    // Nothing is added to s meanwhile (only the newest segment is written to).
    this.drop(s);
  }

  private drop(s: Segment): void {
    closeSync(s.fd);
    unlinkSync(this.path(s.no));
    this.segments.delete(s.no);
  }

  private active(): Segment | undefined {
    let last: Segment | undefined;
    for (const s of this.segments.values()) last = s;
    return last;
  }

  /** The newest segment, or a new one when it is full (a record larger than a segment gets one to itself). */
  private writable(bytes: number): Segment {
    const last = this.active();
    if (last !== undefined && (last.size === 0 || last.size + bytes <= this.o.segmentBytes)) return last;
    const no = (last?.no ?? 0) + 1;
    const s: Segment = { no, fd: openSync(this.path(no), "wx+"), size: 0, live: new Set() };
    this.segments.set(no, s);
    return s;
  }

  private path(no: number): string {
    return join(this.o.dir, `inputs-${String(no).padStart(8, "0")}.log`);
  }
}

function header(kind: number, id: string, inputHash: string | undefined, seq: number, length: number): Buffer {
  const h = Buffer.alloc(RECORD_HEADER_BYTES);
  h.writeUInt32LE(MAGIC, 0);
  h[4] = kind;
  h.writeUInt32LE(length, 8);
  h.writeUIntLE(seq, 12, 6);
  h.write(id.slice(2), 20, 32, "hex");
  if (inputHash !== undefined) h.write(inputHash.slice(2), 52, 32, "hex");
  h.writeUInt32LE(crc32(h.subarray(0, CRC_AT)), CRC_AT);
  return h;
}

function parseHeader(h: Buffer): { kind: number; length: number; seq: number; id: string; inputHash: string } | undefined {
  if (h.readUInt32LE(0) !== MAGIC || h.readUInt32LE(CRC_AT) !== crc32(h.subarray(0, CRC_AT))) return undefined;
  const kind = h[4]!;
  const length = h.readUInt32LE(8);
  if (!(kind === PUT || (kind === DELETE && length === 0))) return undefined;
  return { kind, length, seq: h.readUIntLE(12, 6), id: `0x${h.toString("hex", 20, 52)}`, inputHash: `0x${h.toString("hex", 52, 84)}` };
}
