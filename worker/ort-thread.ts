/**
 * An onnxruntime session that runs in its own worker thread.
 *
 * onnxruntime-node 1.30 runs `session.run` synchronously on the calling JS thread (inside a
 * setImmediate), so while a model runs the worker's main thread can do nothing else: no parsing,
 * hashing, signing or publishing of the other jobs in flight. A `ThreadedSession` owns one
 * `ort.InferenceSession` in a dedicated worker thread (one per model and execution provider: the
 * session cache opens one per model), so inference overlaps with everything else the worker does.
 *
 * Data crosses the thread boundary without double copies: an input whose typed array spans a
 * whole ArrayBuffer the caller hands over (`transferInputs`, used for batches the lane built) is
 * transferred; any other input is copied once into a fresh buffer which is transferred; outputs
 * are transferred back (ORT allocated them in the thread). The session's names and metadata are
 * read once at creation, so `ThreadedSession` is a drop-in for the subset of `ort.InferenceSession`
 * the worker uses (`InferenceSessionLike`).
 *
 * The thread's code is plain JavaScript evaluated in the thread (it needs nothing but
 * onnxruntime-node), so it runs the same under tsx, vitest and plain node.
 */
import { createRequire } from "node:module";
import { Worker as Thread } from "node:worker_threads";
import ort from "onnxruntime-node";

/** What the worker needs of an inference session (ort.InferenceSession satisfies it). */
export interface InferenceSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  run(feeds: Record<string, ort.Tensor>, fetches: readonly string[], flags?: ort.InferenceSession.RunOptions & RunFlags): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
  /** False once the session can serve no more runs (its model process was killed); absent: always alive. */
  readonly alive?: boolean;
}

export interface RunFlags {
  /** The inputs' buffers may be transferred (detached here) when they span a whole ArrayBuffer. */
  transferInputs?: boolean;
}

interface WireTensor {
  type: string;
  dims: number[];
  /** Inputs: the bytes (the thread views them as `type`); outputs: ORT's typed array. */
  data: ArrayBuffer | ArrayBufferView;
}

const THREAD_SOURCE = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.ortPath);
let session;
const ARRAYS = { float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, float16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array };
function transferables(outputs) {
  const list = [];
  for (const t of Object.values(outputs)) {
    const buf = t.data && t.data.buffer;
    if (buf instanceof ArrayBuffer && !list.includes(buf)) list.push(buf);
  }
  return list;
}
parentPort.on("message", async (msg) => {
  if (msg.op === "open") {
    try {
      session = await ort.InferenceSession.create(msg.model, msg.options);
      parentPort.postMessage({ id: msg.id, ok: true, inputNames: session.inputNames, outputNames: session.outputNames,
        inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata });
    } catch (e) {
      parentPort.postMessage({ id: msg.id, ok: false, error: String((e && e.message) || e) });
    }
  } else if (msg.op === "run") {
    let out;
    try {
      const feeds = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, new ARRAYS[t.type](t.data), t.dims);
      const results = await session.run(feeds, msg.fetches);
      out = {};
      for (const [name, t] of Object.entries(results)) out[name] = { type: t.type, dims: Array.from(t.dims), data: t.data };
    } catch (e) {
      parentPort.postMessage({ id: msg.id, ok: false, error: String((e && e.message) || e) });
      return;
    }
    try {
      parentPort.postMessage({ id: msg.id, ok: true, outputs: out }, transferables(out));
    } catch {
      parentPort.postMessage({ id: msg.id, ok: true, outputs: out }); // not transferable: copied
    }
  } else if (msg.op === "release") {
    try { if (session) await session.release(); } catch {}
    session = undefined;
    parentPort.postMessage({ id: msg.id, ok: true });
    parentPort.close();
  }
});
`;

const ORT_PATH = createRequire(import.meta.url).resolve("onnxruntime-node");

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** An ort.InferenceSession living in its own worker thread. */
export class ThreadedSession implements InferenceSessionLike {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  private releasing: Promise<void> | undefined;
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];
  inputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [];
  outputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [];

  private constructor(private readonly thread: Thread) {
    // An idle session does not keep the process alive (like an ort session); one with a call in
    // flight does, so a caller awaiting a run is never cut short.
    thread.unref();
    thread.on("message", (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (w === undefined) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) thread.unref();
      if (reply.ok) w.resolve(reply);
      else w.reject(new Error(reply.error ?? "the inference thread failed"));
    });
    const fail = (error: Error) => {
      this.exited ??= error;
      for (const w of this.waiting.values()) w.reject(error);
      this.waiting.clear();
    };
    thread.on("error", (e) => fail(e instanceof Error ? e : new Error(String(e))));
    thread.on("exit", (code) => fail(new Error(`the inference thread exited (code ${code})`)));
  }

  /** Opens `model` (a path or the model's bytes) in a new thread; rejects with ORT's message if it cannot. */
  static async create(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions = {}): Promise<ThreadedSession> {
    const thread = new Thread(THREAD_SOURCE, { eval: true, workerData: { ortPath: ORT_PATH } });
    const s = new ThreadedSession(thread);
    try {
      const reply = await s.call({ op: "open", model, options });
      s.inputNames = reply.inputNames as string[];
      s.outputNames = reply.outputNames as string[];
      s.inputMetadata = reply.inputMetadata as ort.InferenceSession.ValueMetadata[];
      s.outputMetadata = reply.outputMetadata as ort.InferenceSession.ValueMetadata[];
    } catch (error) {
      await thread.terminate();
      throw error;
    }
    return s;
  }

  private call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) this.thread.ref();
      this.thread.postMessage({ ...message, id }, transfer);
    });
  }

  async run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[], flags: ort.InferenceSession.RunOptions & RunFlags = {}): Promise<Record<string, ort.Tensor>> {
    if (this.releasing !== undefined) throw new Error("the session is released");
    const wire: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      if (!ArrayBuffer.isView(t.data)) throw new TypeError(`input ${name}: ${t.type} tensors cannot cross to the inference thread`);
      const view = t.data as ArrayBufferView;
      const whole = view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
      const bytes =
        flags.transferInputs === true && whole && !transfer.includes(view.buffer as ArrayBuffer)
          ? (view.buffer as ArrayBuffer)
          : new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer; // one copy
      transfer.push(bytes);
      wire[name] = { type: t.type, dims: [...t.dims], data: bytes };
    }
    const reply = await this.call({ op: "run", feeds: wire, fetches: fetches === undefined ? undefined : [...fetches] }, transfer);
    const out: Record<string, ort.Tensor> = {};
    for (const [name, w] of Object.entries(reply.outputs as Record<string, WireTensor>)) {
      out[name] = new ort.Tensor(w.type as never, w.data as never, w.dims);
    }
    return out;
  }

  /** Releases the session and ends the thread. Safe to call twice. */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      try {
        if (this.exited === undefined) await this.call({ op: "release" });
      } catch {
        // the thread is gone already
      } finally {
        await this.thread.terminate();
      }
    })();
    return this.releasing;
  }
}
