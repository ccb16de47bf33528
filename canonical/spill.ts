/**
 * A trace's step tensors on disk: one temporary file per trace, each tensor's bytes at its own offset,
 * read back on demand through a small cache bounded in bytes. The file is unlinked as soon as it is
 * open (where the OS allows it, as on Linux and macOS): only its descriptor holds the space, so even a
 * killed process leaves nothing behind. `close()` closes it and frees the space; a trace dropped without
 * it is closed when collected (FinalizationRegistry). Where unlinking an open file fails (Windows), the
 * file is removed by close(), on collection or at process exit.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DTYPES, type Tensor, type TensorData } from "../protocol/index.js";

/** Spill directories not yet removed (removed at exit). */
const open = new Set<string>();
let exitHook = false;
const remove = (dir: string, fd?: number) => {
  if (!open.delete(dir)) return;
  try {
    if (fd !== undefined) closeSync(fd);
  } catch {
    // already closed
  }
  rmSync(dir, { recursive: true, force: true });
};
const registry = new FinalizationRegistry<{ dir: string; fd: number }>(({ dir, fd }) => remove(dir, fd));

/** Default read-back cache: 64 MiB (at least the last tensor read). */
export const SPILL_CACHE_BYTES = 64 * 2 ** 20;

export class TensorSpill {
  private readonly dir: string;
  private readonly fd: number;
  private end = 0;
  private readonly at: Array<{ offset: number; bytes: number; dtype: Tensor["dtype"]; shape: number[] } | undefined> = [];
  /** Recently read tensors, least recent first. */
  private readonly cache = new Map<number, Tensor>();
  private cached = 0;
  private closed = false;

  constructor(options: { dir?: string; cacheBytes?: number } = {}) {
    this.dir = mkdtempSync(join(options.dir ?? tmpdir(), "trace-"));
    this.fd = openSync(join(this.dir, "tensors.bin"), "w+");
    this.cacheBytes = options.cacheBytes ?? SPILL_CACHE_BYTES;
    open.add(this.dir);
    try {
      rmSync(join(this.dir, "tensors.bin"));
      rmSync(this.dir, { recursive: true });
    } catch {
      // the OS keeps an open file: removed by close(), on collection or at exit
    }
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => [...open].forEach((d) => remove(d)));
    }
  }

  /** Removes the file when `owner` is collected without a close(). */
  own(owner: object): void {
    registry.register(owner, { dir: this.dir, fd: this.fd }, this);
  }
  private readonly cacheBytes: number;

  /** The file holding the tensors (already unlinked where the OS allows it). */
  get path(): string {
    return join(this.dir, "tensors.bin");
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.end;
  }

  write(j: number, t: Tensor): void {
    this.check();
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let done = 0; done < b.byteLength; ) done += writeSync(this.fd, b, done, b.byteLength - done, this.end + done);
    this.at[j] = { offset: this.end, bytes: b.byteLength, dtype: t.dtype, shape: [...t.shape] };
    this.end += b.byteLength;
  }

  /** Byte length of step j's tensor. */
  bytesOf(j: number): number {
    const a = this.at[j];
    if (a === undefined) throw new RangeError(`step ${j} is not spilled`);
    return a.bytes;
  }

  read(j: number): Tensor {
    this.check();
    const hit = this.cache.get(j);
    if (hit !== undefined) {
      this.cache.delete(j);
      this.cache.set(j, hit);
      return hit;
    }
    const a = this.at[j];
    if (a === undefined) throw new RangeError(`step ${j} is not spilled`);
    const size = DTYPES[a.dtype].size;
    const buf = new ArrayBuffer(a.bytes);
    const b = new Uint8Array(buf);
    for (let done = 0; done < a.bytes; ) {
      const n = readSync(this.fd, b, done, a.bytes - done, a.offset + done);
      if (n === 0) throw new Error(`spill file ${this.path} ends before step ${j}`);
      done += n;
    }
    const t: Tensor = { dtype: a.dtype, shape: [...a.shape], data: new DTYPES[a.dtype].array(buf, 0, a.bytes / size) as TensorData };
    for (const [k, v] of this.cache) {
      if (this.cached + a.bytes <= this.cacheBytes) break;
      this.cache.delete(k);
      this.cached -= v.data.byteLength;
    }
    this.cache.set(j, t);
    this.cached += a.bytes;
    return t;
  }

  /** `length` bytes of step j's tensor from byte `start` (from the cache when it holds the tensor, else one read). */
  readBytes(j: number, start: number, length: number): Uint8Array {
    this.check();
    const hit = this.cache.get(j);
    if (hit !== undefined) return new Uint8Array(hit.data.buffer, hit.data.byteOffset + start, length);
    const a = this.at[j];
    if (a === undefined) throw new RangeError(`step ${j} is not spilled`);
    if (start < 0 || start + length > a.bytes) throw new RangeError(`bytes ${start}..${start + length} out of step ${j}'s ${a.bytes}`);
    const b = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const n = readSync(this.fd, b, done, length - done, a.offset + start + done);
      if (n === 0) throw new Error(`spill file ${this.path} ends before step ${j}`);
      done += n;
    }
    return b;
  }

  /** Removes the file (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    registry.unregister(this);
    remove(this.dir, this.fd);
  }

  private check(): void {
    if (this.closed) throw new Error("the trace is closed (its spill file is removed)");
  }
}
