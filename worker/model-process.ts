/**
 * An onnxruntime session in a child process of its own, under a memory cap and time limits.
 *
 * Models are untrusted (registration is permissionless). A 188-byte model reached 6.4 GiB of resident
 * memory in one run, and a model with a `Loop` of 10⁹ trips runs for hours: inside the worker's
 * process either takes the worker down or holds its slot forever. Worker threads do not help:
 * `resourceLimits` caps only the V8 heap, and onnxruntime allocates natively. So each model gets a
 * process (`model-process-child.cjs`, forked with a scrubbed environment: the worker's secrets never
 * reach it), and the parent enforces:
 *
 * - **memory, by the kernel**: the child starts under `prlimit --data=<dataBytes>` (RLIMIT_DATA, which
 *   since Linux 4.7 counts every private writable mapping: the heap, onnxruntime's arena, thread
 *   stacks; lowering a limit needs no privilege). An allocation beyond it fails in the kernel
 *   (ENOMEM) however fast the model allocates; onnxruntime reports "Failed to allocate memory", the
 *   parent kills the process and the call fails with MODEL_RESOURCE_LIMIT (`details.enforcedBy`
 *   "kernel"). VmData tracks what a model can make resident: 80 MiB for node + onnxruntime + cls at
 *   rest with 9 threads against 1.6 GB of address space (VmSize), +8 MiB per extra intra-op thread,
 *   which is why RLIMIT_AS (`addressSpaceBytes`, optional, off by default) is no cap for this.
 *   Where prlimit is missing (`kernelCapped` false) the sampling below is the only cap; the
 *   provider logs a warning. Sessions on a GPU provider are not capped this way (driver mappings,
 *   never measured under the cap; their device memory is not counted either).
 * - **memory, sampled**: while a call (open or run) is in flight, the child's resident set (VmRSS in
 *   /proc/<pid>/status) is sampled every `pollMs`; above `memoryBytes` the child is SIGKILLed.
 * - **time**: a run longer than `runTimeoutMs` (an open longer than `loadTimeoutMs`) kills the child.
 *
 * Every call in flight then fails with MODEL_RESOURCE_LIMIT (never retryable; `details.limit` says
 * which); the session is dead (`alive` false) and the session cache opens a fresh process for the
 * model's next job. Other models' processes are untouched.
 *
 * Tensors cross as raw bytes, never as JSON: a small one inside the message (Node's "advanced" IPC
 * serialization writes a Uint8Array as its bytes), one of FILE_BYTES or more as a file in a private
 * (0700) folder on /dev/shm (tmpfs), written by one side and read by the other: a 108 KiB tensor
 * went through the IPC pipe in 3.1 ms median on a loaded 2-core host, through tmpfs in 0.8 ms. The
 * files are a run slot's, kept open on both sides and overwritten in place (worker/tensor-files.ts).
 * The bench (bench/model-process.ts) measures the whole cost against in-process runs.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";
import { OracleError } from "../protocol/index.js";
import type { InferenceSessionLike, RunFlags } from "./ort-thread.js";
import { TensorFiles } from "./tensor-files.js";

const CHILD_PATH = fileURLToPath(new URL("./model-process-child.cjs", import.meta.url));
const ORT_PATH = createRequire(import.meta.url).resolve("onnxruntime-node");
const PRLIMIT = ["/usr/bin/prlimit", "/bin/prlimit"].find((p) => existsSync(p));
/** V8's heap in the child holds only messages (tensors live in ArrayBuffers outside it). */
const CHILD_HEAP_MB = 256;
const RELEASE_GRACE_MS = 2_000;
/** Tensors this large or larger cross through a tmpfs file rather than the IPC pipe. */
const FILE_BYTES = 32 * 1024;
const SHM = "/dev/shm";

/** A fresh private folder on tmpfs for one session's tensor files, or undefined where there is none. */
function tensorFolder(): string | undefined {
  try {
    return existsSync(SHM) ? mkdtempSync(join(SHM, "oracle-model-")) : undefined;
  } catch {
    return undefined;
  }
}

export interface ModelProcessLimits {
  /** Resident memory the model's process may reach (bytes); killed above it. 0: no cap. */
  memoryBytes: number;
  /** Longest one run may take (ms); the process is killed after it. 0: no limit. */
  runTimeoutMs: number;
  /** Longest opening the model may take (parse, optimize, weights). 0: no limit. */
  loadTimeoutMs: number;
  /** How often resident memory is sampled while a call is in flight (ms). Default 20; 0: not sampled (the kernel cap alone). */
  pollMs?: number;
  /** RLIMIT_AS for the child through prlimit (bytes); 0 or absent: none. */
  addressSpaceBytes?: number;
  /** RLIMIT_DATA for the child through prlimit (bytes): the kernel-enforced memory cap. 0 or absent: none. */
  dataBytes?: number;
  /** prlimit's path (tests); default: /usr/bin/prlimit or /bin/prlimit where installed. */
  prlimitPath?: string;
  /** Called once per process that is killed or dies while it serves (metrics); never for a release. */
  onKill?: (reason: KillReason) => void;
}

/** Why a model process ended against the worker's will: a memory cap (kernel or sampled), a time limit, or anything else. */
export type KillReason = "memory" | "timeout" | "crash";

function killReason(error: OracleError): KillReason {
  if (error.code !== "MODEL_RESOURCE_LIMIT") return "crash";
  return error.details.limit === "memory" ? "memory" : "timeout";
}

/** Whether this host can start model processes under a kernel-enforced memory cap (prlimit, util-linux). */
export const KERNEL_CAP_AVAILABLE = PRLIMIT !== undefined;

/** What onnxruntime, V8 or libc say when the kernel refused an allocation under RLIMIT_DATA. */
const ALLOCATION_REFUSED = /Failed to allocate memory|bad_alloc|Cannot allocate memory|out of memory|ENOMEM|Allocation failed/i;

const ARRAYS: Record<string, { new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, float16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array,
};

interface WireTensor {
  type: string;
  dims: number[];
  /** The bytes, in the message; or `path`, a file in the session's tmpfs folder, of which the first `bytes` are the tensor's. */
  data?: Uint8Array;
  path?: string;
  bytes?: number;
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** The resident set of `pid` in bytes (Linux /proc); undefined where it cannot be read. */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** An ort.InferenceSession living in a child process, killed when it breaks its limits. */
export class ProcessSession implements InferenceSessionLike {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>();
  private dead: OracleError | undefined;
  private releasing: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stderrTail = "";
  /** The tensor files of the runs (in `folder`). */
  private readonly files: TensorFiles | undefined;
  /** Highest resident memory seen while a call was in flight (bytes). */
  peakResidentBytes = 0;
  /** Whether the kernel caps this process's memory (RLIMIT_DATA through prlimit). */
  kernelCapped = false;
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];
  inputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [];
  outputMetadata: readonly ort.InferenceSession.ValueMetadata[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly limits: ModelProcessLimits,
    private readonly folder: string | undefined,
  ) {
    this.files = folder === undefined ? undefined : new TensorFiles(folder);
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-2_000);
    });
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    child.on("message", (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (w === undefined) return;
      this.settle(reply.id);
      if (reply.ok) w.resolve(reply);
      else if (this.kernelCapped && ALLOCATION_REFUSED.test(reply.error ?? "")) {
        // The kernel refused an allocation: the model broke the cap. Its process may hold half-built
        // state (and onnxruntime's arena stays grown): kill it; the next job gets a fresh one.
        const error = this.kernelRefusal(reply.error ?? "");
        w.reject(error);
        this.kill(error);
      } else w.reject(new Error(reply.error ?? "the model process failed"));
    });
    child.on("error", (e) => this.kill(new OracleError("INFERENCE_FAILED", `the model process failed: ${e.message}`, { cause: e, details: { stage: "process" } })));
    child.on("exit", (code, signal) => {
      // A process that died of an allocation the kernel refused (V8 or libc abort) broke the cap too.
      if (this.kernelCapped && this.dead === undefined && ALLOCATION_REFUSED.test(this.stderrTail)) {
        this.kill(this.kernelRefusal(this.stderrTail.slice(-500)));
        return;
      }
      this.kill(
        new OracleError("INFERENCE_FAILED", `the model process exited (code ${code}, signal ${signal})`, {
          details: { stage: "process", code, signal, stderr: this.stderrTail.slice(-500) },
        }),
      );
    });
  }

  private kernelRefusal(message: string): OracleError {
    const limitBytes = this.limits.dataBytes ?? 0;
    return new OracleError("MODEL_RESOURCE_LIMIT", `the kernel refused the model's process memory beyond its limit of ${Math.round(limitBytes / 2 ** 20)} MiB; it was killed`, {
      details: { limit: "memory", enforcedBy: "kernel", limitBytes, error: message.slice(0, 300) },
    });
  }

  /** Whether the process still serves runs (false once it was killed or exited). */
  get alive(): boolean {
    return this.dead === undefined;
  }

  /** The child's pid (tests, metrics). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Opens `modelPath` in a new process; rejects with ORT's message, or MODEL_RESOURCE_LIMIT when opening breaks a limit. */
  static async create(modelPath: string, options: ort.InferenceSession.SessionOptions, limits: ModelProcessLimits): Promise<ProcessSession> {
    const nodeArgs = [`--max-old-space-size=${CHILD_HEAP_MB}`];
    const prlimit = limits.prlimitPath === undefined ? PRLIMIT : existsSync(limits.prlimitPath) ? limits.prlimitPath : undefined;
    const as = limits.addressSpaceBytes ?? 0;
    const data = limits.dataBytes ?? 0;
    if (as > 0 && prlimit === undefined) throw new OracleError("CONFIG_INVALID", "an address-space limit for model processes needs prlimit (util-linux), which is not installed");
    // GPU providers (CUDA, TensorRT) map driver memory the cap would count and were never measured
    // under it: a GPU session's memory is capped by sampling only (its device memory is not counted).
    const cpuOnly = (options.executionProviders ?? ["cpu"]).every((p) => (typeof p === "string" ? p : p.name) === "cpu");
    const kernelCap = data > 0 && prlimit !== undefined && cpuOnly;
    const caps = [...(as > 0 ? [`--as=${as}`] : []), ...(kernelCap ? [`--data=${data}`] : [])];
    const child = fork(CHILD_PATH, [], {
      serialization: "advanced",
      // Nothing of the worker's environment (signer keys, broker passwords) reaches the model's process.
      env: { ORACLE_ORT_PATH: ORT_PATH, PATH: process.env.PATH ?? "/usr/bin:/bin" },
      cwd: "/",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      ...(caps.length > 0 ? { execPath: prlimit, execArgv: [...caps, "--", process.execPath, ...nodeArgs] } : { execArgv: nodeArgs }),
    });
    const s = new ProcessSession(child, limits, tensorFolder());
    s.kernelCapped = kernelCap;
    try {
      const reply = await s.call({ op: "open", model: modelPath, options }, "load");
      s.inputNames = reply.inputNames as string[];
      s.outputNames = reply.outputNames as string[];
      s.inputMetadata = reply.inputMetadata as ort.InferenceSession.ValueMetadata[];
      s.outputMetadata = reply.outputMetadata as ort.InferenceSession.ValueMetadata[];
    } catch (error) {
      await s.release();
      throw error;
    }
    return s;
  }

  private call(message: Record<string, unknown>, stage: "load" | "run" | "release"): Promise<Reply> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const id = this.nextId++;
    const limitMs = stage === "load" ? this.limits.loadTimeoutMs : stage === "run" ? this.limits.runTimeoutMs : RELEASE_GRACE_MS;
    return new Promise<Reply>((resolve, reject) => {
      const entry: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } = { resolve, reject };
      if (limitMs > 0) {
        entry.timer = setTimeout(() => {
          this.kill(
            new OracleError("MODEL_RESOURCE_LIMIT", `the model ${stage === "load" ? "took longer than" : "ran longer than"} ${limitMs} ms; its process was killed`, {
              details: { limit: "time", stage, limitMs },
            }),
          );
        }, limitMs);
      }
      this.waiting.set(id, entry);
      if (this.waiting.size === 1) {
        this.child.ref();
        this.startWatchdog();
      }
      this.child.send({ ...message, id }, (error) => {
        if (error) this.kill(new OracleError("INFERENCE_FAILED", `sending to the model process failed: ${error.message}`, { cause: error, details: { stage: "process" } }));
      });
    });
  }

  private settle(id: number): void {
    const w = this.waiting.get(id);
    if (w?.timer !== undefined) clearTimeout(w.timer);
    this.waiting.delete(id);
    if (this.waiting.size === 0) {
      this.child.unref();
      this.stopWatchdog();
    }
  }

  private startWatchdog(): void {
    if (this.limits.memoryBytes <= 0 || this.limits.pollMs === 0 || this.watchdog !== undefined) return;
    const check = () => {
      const pid = this.child.pid;
      if (pid === undefined || this.dead !== undefined) return;
      const rss = residentBytes(pid);
      if (rss === undefined) return;
      if (rss > this.peakResidentBytes) this.peakResidentBytes = rss;
      if (rss > this.limits.memoryBytes) {
        this.kill(
          new OracleError("MODEL_RESOURCE_LIMIT", `the model's process reached ${Math.round(rss / 2 ** 20)} MiB resident, above the limit of ${Math.round(this.limits.memoryBytes / 2 ** 20)} MiB; it was killed`, {
            details: { limit: "memory", residentBytes: rss, limitBytes: this.limits.memoryBytes },
          }),
        );
      }
    };
    this.watchdog = setInterval(check, this.limits.pollMs ?? 20);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** Marks the session dead with `error`, kills the child, and fails every call in flight with it. */
  private kill(error: OracleError): void {
    if (this.dead === undefined) {
      this.dead = error;
      if (this.releasing === undefined) this.limits.onKill?.(killReason(error));
    }
    this.stopWatchdog();
    this.files?.close();
    if (this.folder !== undefined) rmSync(this.folder, { recursive: true, force: true });
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    const reason = this.dead;
    for (const [id, w] of [...this.waiting]) {
      this.settle(id);
      w.reject(reason);
    }
  }

  async run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[], _flags: ort.InferenceSession.RunOptions & RunFlags = {}): Promise<Record<string, ort.Tensor>> {
    if (this.releasing !== undefined) throw new Error("the session is released");
    const wire: Record<string, WireTensor> = {};
    // The run's tmpfs files (worker/tensor-files.ts), held until its reply is read.
    const slot = this.files?.acquire();
    try {
      for (const [k, [name, t]] of Object.entries(feeds).entries()) {
        if (!ArrayBuffer.isView(t.data)) throw new TypeError(`input ${name}: ${t.type} tensors cannot cross to the model process`);
        const view = t.data as ArrayBufferView;
        const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        if (this.files !== undefined && slot !== undefined && bytes.byteLength >= FILE_BYTES) {
          wire[name] = { type: t.type, dims: [...t.dims], path: this.files.writeInput(slot, k, bytes), bytes: bytes.byteLength };
        } else {
          // A view, not a copy: the serializer writes its bytes into the message once.
          wire[name] = { type: t.type, dims: [...t.dims], data: bytes };
        }
      }
      const reply = await this.call(
        { op: "run", feeds: wire, fetches: fetches === undefined ? undefined : [...fetches], ...(this.folder === undefined ? {} : { outDir: this.folder, fileBytes: FILE_BYTES, slot }) },
        "run",
      );
      const out: Record<string, ort.Tensor> = {};
      for (const [name, w] of Object.entries(reply.outputs as Record<string, WireTensor>)) {
        const A = ARRAYS[w.type];
        if (A === undefined) throw new Error(`output ${name}: unsupported type ${w.type}`);
        let data: Uint8Array;
        if (w.path !== undefined) {
          if (this.files === undefined || !w.path.startsWith(`${this.files.folder}/out-${slot}-`)) throw new Error(`output ${name}: a file outside the run's slot`);
          if (!Number.isSafeInteger(w.bytes) || w.bytes! < 0) throw new Error(`output ${name}: no byte length`);
          data = this.files.readOutput(w.path, w.bytes!);
        } else {
          data = w.data!;
        }
        // The bytes may sit at any offset in their buffer: copy only when misaligned.
        const b = data.byteOffset % A.BYTES_PER_ELEMENT === 0 ? data : data.slice();
        out[name] = new ort.Tensor(w.type as never, new A(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / A.BYTES_PER_ELEMENT) as never, w.dims);
      }
      return out;
    } finally {
      if (slot !== undefined) this.files?.release(slot);
    }
  }

  /** Releases the session and ends the process (killed if it does not exit promptly). Safe to call twice. */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      if (this.dead === undefined) {
        const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
        let timer: NodeJS.Timeout | undefined;
        try {
          await this.call({ op: "release" }, "release");
          // Held (ref'd) until the child is gone: a caller awaiting release() is never cut short.
          this.child.ref();
          await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, RELEASE_GRACE_MS)))]);
        } catch {
          // killed, or gone already
        } finally {
          if (timer !== undefined) clearTimeout(timer);
          this.child.unref();
        }
      }
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
      this.files?.close();
    if (this.folder !== undefined) rmSync(this.folder, { recursive: true, force: true });
      this.dead ??= new OracleError("INFERENCE_FAILED", "the session is released", { details: { stage: "released" } });
    })();
    return this.releasing;
  }
}
