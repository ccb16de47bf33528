/**
 * The parent side of the tmpfs files large tensors cross to and from a model process through
 * (worker/model-process.ts). Issue 15: each run used to create, write, read and unlink its own files
 * (open, write, close, lstat, unlink in the worker; open, fstat, read, close in the model's process,
 * and the same again for a large output), a dozen file-system calls and fresh tmpfs pages per run. Now
 * a run takes a **slot**, whose files (`in-<slot>-<k>.bin`, `out-<slot>-<k>.bin`) stay open on both
 * sides and are overwritten in place: one positioned write and one positioned read per tensor.
 *
 * A slot is held from the run's input write until its reply is read: the model's process reads the
 * input before it replies and writes the output before it replies, so no two runs in flight ever share
 * a file. The message names each tensor's byte length (a file may be longer, from an earlier, larger
 * tensor).
 */
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";

export class TensorFiles {
  private readonly fds = new Map<string, number>();
  /** Bytes in each input file. */
  private readonly sizes = new Map<string, number>();
  private readonly free: number[] = [];
  private slots = 0;
  private closed = false;

  constructor(readonly folder: string) {}

  /** A slot no run in flight holds. */
  acquire(): number {
    return this.free.pop() ?? this.slots++;
  }

  release(slot: number): void {
    if (!this.closed) this.free.push(slot);
  }

  inputPath(slot: number, k: number): string {
    return join(this.folder, `in-${slot}-${k}.bin`);
  }

  /** Writes `bytes` at the start of the slot's k-th input file; returns its path. */
  writeInput(slot: number, k: number, bytes: Uint8Array): string {
    const path = this.inputPath(slot, k);
    const fd = this.fd(path, "w+");
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done, done);
    // A file left longer by an earlier, larger tensor is cut to this one: tmpfs holds no more than the
    // latest tensor of each slot (in memory: the run has those bytes in memory anyway).
    if ((this.sizes.get(path) ?? 0) > bytes.byteLength) ftruncateSync(fd, bytes.byteLength);
    this.sizes.set(path, bytes.byteLength);
    return path;
  }

  /** The first `length` bytes of an output file the model's process wrote (a path in this folder, checked by the caller). */
  readOutput(path: string, length: number): Buffer {
    const out = Buffer.allocUnsafeSlow(length);
    const fd = this.fd(path, "r");
    for (let done = 0; done < length; ) {
      const n = readSync(fd, out, done, length - done, done);
      if (n === 0) throw new Error(`output file ${path} holds ${done} bytes, the reply says ${length}`);
      done += n;
    }
    return out;
  }

  /** Closes every file (the folder is removed by the session). */
  close(): void {
    this.closed = true;
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.clear();
  }

  /** The file's descriptor, opened once: "w+" (created by this side) for inputs, "r" for the outputs the model's process creates. */
  private fd(path: string, flags: "w+" | "r"): number {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      if (this.closed) throw new Error("the session's tensor files are closed");
      fd = openSync(path, flags, 0o600);
      this.fds.set(path, fd);
    }
    return fd;
  }
}
