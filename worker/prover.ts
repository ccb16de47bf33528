/**
 * Groth16 proving for ZK-tier jobs, off the worker's main thread: a small pool of worker_threads,
 * each running snarkjs `groth16.fullProve` (witness + proof, single-threaded inside the thread) on a
 * model's circuit wasm and zkey.
 * While a proof runs the main thread keeps decoding, running, signing and publishing other jobs.
 */
import { existsSync } from "node:fs";
import { Worker as Thread } from "node:worker_threads";
import { OracleError } from "../protocol/index.js";
import { circuitInput, encodeInferenceProof, type InferenceProof } from "../circuits/index.js";
import type { Groth16Proof } from "snarkjs";

const THREAD_URL = new URL("./prover-thread.mjs", import.meta.url);

/** A model's ZK artifacts (WorkerConfig.zk). */
export interface ZkArtifactPaths {
  wasm: string;
  zkey: string;
}

export interface ProveRequest extends ZkArtifactPaths {
  /** The input tensor's int8 data section. */
  inputData: Uint8Array;
  /** Bytes in the output tensor's data section. */
  outputBytes: number;
  signal?: AbortSignal;
}

interface Pending {
  resolve: (r: { proof: Groth16Proof; publicSignals: string[]; ms: number }) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  thread: Thread;
  /** The job it is proving, if any. */
  job: number | undefined;
}

interface Queued {
  id: number;
  message: { id: number; input: Record<string, unknown>; wasmPath: string; zkeyPath: string };
  pending: Pending;
}

export class ProverPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Proofs finished, for logs and tests. */
  proved = 0;

  constructor(private readonly threads = 1) {
    if (!Number.isInteger(threads) || threads < 1) throw new OracleError("CONFIG_INVALID", `prover threads must be a positive integer, got ${threads}`);
  }

  /** Proves one inference; resolves with the submission's proof bytes and the proven output data. */
  async prove(req: ProveRequest): Promise<InferenceProof & { ms: number }> {
    if (this.closed) throw new OracleError("QUEUE_CLOSED", "the prover pool is closed");
    for (const path of [req.wasm, req.zkey]) {
      if (!existsSync(path)) throw new OracleError("INFERENCE_FAILED", `ZK artifact missing: ${path}`, { details: { stage: "prove", path } });
    }
    const id = this.nextId++;
    const result = await new Promise<{ proof: Groth16Proof; publicSignals: string[]; ms: number }>((resolve, reject) => {
      const pending = { resolve, reject };
      this.queue.push({ id, message: { id, input: circuitInput(req.inputData), wasmPath: req.wasm, zkeyPath: req.zkey }, pending });
      req.signal?.addEventListener("abort", () => {
        const i = this.queue.findIndex((q) => q.id === id);
        if (i >= 0) {
          this.queue.splice(i, 1);
          reject(new OracleError("TIMEOUT", "proving aborted", { retryable: true }));
        }
      }, { once: true });
      this.pump();
    });
    this.proved++;
    return { ...encodeInferenceProof(result.proof, result.publicSignals, req.inputData.byteLength, req.outputBytes), ms: result.ms };
  }

  /** Stops every thread; proofs in flight reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.pending.reject(new OracleError("QUEUE_CLOSED", "the prover pool closed"));
    for (const [, p] of this.pending) p.reject(new OracleError("QUEUE_CLOSED", "the prover pool closed", { retryable: true }));
    this.pending.clear();
    await Promise.all(this.slots.splice(0).map((s) => s.thread.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === undefined);
      if (slot === undefined && this.slots.length < this.threads) slot = this.spawn();
      if (slot === undefined) return;
      const job = this.queue.shift()!;
      slot.job = job.id;
      this.pending.set(job.id, job.pending);
      // A thread with a proof in flight keeps the process alive; an idle one does not.
      slot.thread.ref();
      slot.thread.postMessage(job.message);
    }
  }

  private spawn(): Slot {
    // web-worker (imported by snarkjs's ffjavascript) treats every non-main thread as one of its own
    // and reads workerData { mod, type } at import: hand it an empty module so it stays inert.
    const thread = new Thread(THREAD_URL, { workerData: { mod: "data:text/javascript,", name: "prover", type: "module" } });
    const slot: Slot = { thread, job: undefined };
    thread.on("message", (m: { id: number; proof?: Groth16Proof; publicSignals?: string[]; ms?: number; error?: string }) => {
      slot.job = undefined;
      thread.unref();
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p !== undefined) {
        if (m.error !== undefined) p.reject(new OracleError("INFERENCE_FAILED", `proving failed: ${m.error}`, { details: { stage: "prove" } }));
        else p.resolve({ proof: m.proof!, publicSignals: m.publicSignals!, ms: m.ms ?? 0 });
      }
      this.pump();
    });
    thread.on("error", (error) => this.fail(slot, error));
    thread.on("exit", (code) => { if (!this.closed && code !== 0) this.fail(slot, new Error(`prover thread exited with ${code}`)); });
    thread.unref();
    this.slots.push(slot);
    return slot;
  }

  /** A crashed thread: its proof (if any) fails retryably and the slot is replaced on demand. */
  private fail(slot: Slot, error: unknown): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const p = slot.job === undefined ? undefined : this.pending.get(slot.job);
    if (slot.job !== undefined) this.pending.delete(slot.job);
    slot.job = undefined;
    p?.reject(new OracleError("INFERENCE_FAILED", "the prover thread crashed", { cause: error, retryable: true, details: { stage: "prove" } }));
    this.pump();
  }
}
