/**
 * One inference lane per model session, with dynamic batching.
 *
 * ONNX Runtime already spreads one run over its intra-op threads, so two concurrent `session.run`
 * calls on a session only fight over them (measured: 2.9 ms per run alone, ~11 ms with two at once
 * on 2 cores). A lane keeps at most one run in flight per model; with the session in its own thread
 * (worker/ort-thread.ts, the default) the worker's other jobs decode, hash, sign and publish on the
 * main thread while it runs (prefetch > 1 feeds the lane).
 *
 * Batching: when a model has a batch policy (`maxBatch` > 1), requests waiting in the lane are run
 * as ONE session.run with their inputs concatenated along dimension 0 and the output split back
 * along dimension 0, each request getting its own slice. A batch is formed when the lane is free:
 * it takes what is waiting (up to maxBatch, same dtype and same non-batch dimensions as the oldest
 * request); if fewer than maxBatch wait, it waits up to maxWaitMs after the oldest request arrived
 * for more. Batching is only used when the model's own metadata says its first input and first
 * output dimensions are dynamic (symbolic or -1): the catalog spec describes one request, the model
 * decides whether several fit in a run. A batched run whose output's first dimension is not the
 * sum of the requests' is not split: its requests are run one by one and batching is turned off for
 * that model. A failed batched run is retried one request at a time, so one bad input cannot fail
 * the others.
 *
 * Float outputs of a batched run can differ in the last bits from a batch-1 run; that is acceptable
 * for NONE and OPTIMISTIC (the checker tolerates it, docs/OPTIMISTIC.md), so callers pass
 * `batchable: false` for requests that must be computed alone (the ZK tier). The lane is generic in
 * its output: traced runs (worker/trace.ts) batch through the same lane with a backend whose
 * output is every trace tensor and whose `split` slices each request's trace out of the batch's.
 */
import type ort from "onnxruntime-node";
import { DTYPES, type Tensor, type TensorData } from "../protocol/index.js";

export interface BatchPolicy {
  /** Most requests in one run (1: no batching). */
  maxBatch: number;
  /** How long a free lane waits for a batch to fill (0: take what is waiting). */
  maxWaitMs: number;
  /**
   * Runs handed to the backend at once (default 1). 2 suits a backend in its own thread: the next
   * run waits in the thread's queue and starts the moment the previous one ends, instead of after a
   * round trip through the busy main thread; the thread still runs them one at a time.
   */
  depth?: number;
}

export const NO_BATCHING: BatchPolicy = { maxBatch: 1, maxWaitMs: 0 };

/**
 * What a lane needs to run a model. `C` is the context each request brings (the worker: its session
 * lease); a run uses the context of the oldest request in it.
 */
export interface BatcherBackend<C = unknown, O = Tensor> {
  /**
   * Runs one (possibly batched) input; the output is the model's first output. `owned`: the lane
   * built `input` (a batch) and nobody else holds it, so its buffer may be handed over (transferred).
   */
  run(input: Tensor, context: C, owned?: boolean): Promise<O>;
  /** Whether the model's first input and output dimensions are dynamic (batchable). */
  batchable(context: C): boolean;
  /**
   * Splits a batched run's output into one output per request (`rows[i]` input rows each); throws
   * when the output cannot be split (batching is then turned off for the model). splitBatch of a
   * Tensor output when absent.
   */
  split?(output: O, rows: readonly number[], context: C): O[];
}

export interface BatcherResult<O = Tensor> {
  output: O;
  /** session.run of the batch (ms). */
  infer: number;
  /** Time waiting in the lane before the run started (ms). */
  queued: number;
  /** Requests in the run. */
  batch: number;
}

interface Pending<C, O> {
  input: Tensor;
  context: C;
  batchable: boolean;
  arrived: number;
  resolve: (r: BatcherResult<O>) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** True when a model's metadata marks dimension 0 of `meta` dynamic (symbolic name or -1). */
export function dynamicBatchDim(meta: readonly ort.InferenceSession.ValueMetadata[] | undefined): boolean {
  const first = meta?.[0];
  if (first === undefined || !first.isTensor) return false;
  const d0 = first.shape[0];
  return typeof d0 === "string" || d0 === -1;
}

function sameShapeBeyondBatch(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.length === 0) return false;
  for (let i = 1; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  return true;
}

/** Concatenates tensors of equal dtype and trailing dims along dimension 0 (one copy). */
export function concatBatch(inputs: readonly Tensor[]): Tensor {
  const first = inputs[0]!;
  const Ctor = DTYPES[first.dtype].array;
  const total = inputs.reduce((n, t) => n + t.data.length, 0);
  const data = new Ctor(total) as TensorData;
  let offset = 0;
  for (const t of inputs) {
    (data as unknown as { set(src: ArrayLike<unknown>, offset: number): void }).set(t.data as ArrayLike<unknown>, offset);
    offset += t.data.length;
  }
  const rows = inputs.reduce((n, t) => n + t.shape[0]!, 0);
  return { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data };
}

/** Splits `output` along dimension 0 into pieces of `rows[i]` rows (views, no copy). */
export function splitBatch(output: Tensor, rows: readonly number[]): Tensor[] {
  const total = rows.reduce((a, b) => a + b, 0);
  if (output.shape.length === 0 || output.shape[0] !== total) {
    throw new RangeError(`batched output has first dimension ${output.shape[0]}, expected ${total}`);
  }
  const per = total === 0 ? 0 : output.data.length / total;
  const out: Tensor[] = [];
  let row = 0;
  for (const r of rows) {
    const data = output.data.subarray(row * per, (row + r) * per) as TensorData;
    out.push({ dtype: output.dtype, shape: [r, ...output.shape.slice(1)], data });
    row += r;
  }
  return out;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/** Serializes (and batches) the runs of one model. */
export class InferenceBatcher<C = unknown, O = Tensor> {
  private readonly pending: Pending<C, O>[] = [];
  private running = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private batchingDisabled = false;
  /** Runs in flight right now (at most the policy's depth, 1 by default; tests assert it). */
  inFlight = 0;
  /** Most runs ever in flight at once. */
  maxInFlight = 0;
  /** Sizes of the runs made, in order (bounded; for tests and the bench). */
  readonly batches: number[] = [];

  constructor(
    private readonly backend: BatcherBackend<C, O>,
    private policy: BatchPolicy,
    private readonly now: () => number = () => performance.now(),
    /** Told once when batching is turned off for this lane's model (why). */
    private readonly onBatchingDisabled?: (reason: string, error?: unknown) => void,
  ) {}

  /** True once batching was turned off for this model (its outputs could not be split). */
  get batchingOff(): boolean {
    return this.batchingDisabled;
  }

  private disableBatching(reason: string, error?: unknown): void {
    if (this.batchingDisabled) return;
    this.batchingDisabled = true;
    this.onBatchingDisabled?.(reason, error);
  }

  setPolicy(policy: BatchPolicy): void {
    this.policy = policy;
  }

  get queued(): number {
    return this.pending.length;
  }

  /** Queues `input`; resolves with its own output once its run is done. */
  submit(input: Tensor, context: C, options: { batchable?: boolean; signal?: AbortSignal } = {}): Promise<BatcherResult<O>> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<BatcherResult<O>>((resolve, reject) => {
      const p: Pending<C, O> = { input, context, batchable: options.batchable ?? true, arrived: this.now(), resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        p.onAbort = () => {
          const i = this.pending.indexOf(p);
          if (i >= 0) {
            this.pending.splice(i, 1);
            reject(abortError(signal));
          }
        };
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.pending.push(p);
      this.pump();
    });
  }

  /**
   * Forms the next run once the lane is free. Deferred to the next macrotask so that requests
   * submitted in the same burst (jobs decoded while the previous run blocked the thread:
   * onnxruntime-node runs synchronously on the JS thread) join one batch.
   */
  private pump(): void {
    if (this.running >= this.depth || this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.form();
    });
  }

  private form(): void {
    if (this.running >= this.depth || this.pending.length === 0) return;
    const head = this.pending[0]!;
    const max = this.batchingDisabled || !head.batchable ? 1 : Math.max(1, this.policy.maxBatch);
    if (max > 1) {
      const ready = this.pending.filter((p) => p.batchable && sameShapeBeyondBatch(p.input, head.input)).length;
      const waitLeft = head.arrived + this.policy.maxWaitMs - this.now();
      if (ready < max && waitLeft > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.form();
        }, Math.ceil(waitLeft));
        return;
      }
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch: Pending<C, O>[] = [head];
    if (max > 1) {
      for (let i = 1; i < this.pending.length && batch.length < max; i++) {
        const p = this.pending[i]!;
        if (p.batchable && sameShapeBeyondBatch(p.input, head.input)) batch.push(p);
      }
    }
    for (const p of batch) {
      this.pending.splice(this.pending.indexOf(p), 1);
      if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
    }
    this.running += 1;
    void this.execute(batch).finally(() => {
      this.running -= 1;
      this.pump();
    });
    this.pump(); // a free slot (depth > 1) takes the next run
  }

  private get depth(): number {
    return Math.max(1, Math.floor(this.policy.depth ?? 1));
  }

  private async runOne(input: Tensor, context: C, owned = false): Promise<{ output: O; infer: number }> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const t = this.now();
    try {
      const output = await this.backend.run(input, context, owned);
      return { output, infer: this.now() - t };
    } finally {
      this.inFlight -= 1;
    }
  }

  private record(size: number): void {
    if (this.batches.length >= 10_000) this.batches.splice(0, 5_000);
    this.batches.push(size);
  }

  private async execute(batch: Pending<C, O>[]): Promise<void> {
    const start = this.now();
    if (batch.length > 1) {
      let ok = false;
      try {
        ok = this.backend.batchable(batch[0]!.context);
      } catch {
        ok = false;
      }
      if (ok) {
        let outcome: { output: O; infer: number } | undefined;
        try {
          this.record(batch.length);
          outcome = await this.runOne(concatBatch(batch.map((p) => p.input)), batch[0]!.context, true);
        } catch {
          outcome = undefined; // retried one by one below: a bad input fails only its own request
        }
        if (outcome !== undefined) {
          let parts: O[] | undefined;
          try {
            const rows = batch.map((p) => p.input.shape[0]!);
            parts = this.backend.split !== undefined ? this.backend.split(outcome.output, rows, batch[0]!.context) : (splitBatch(outcome.output as Tensor, rows) as O[]);
          } catch (error) {
            this.disableBatching("the batched output cannot be split per request", error); // never again for this model
          }
          if (parts !== undefined) {
            batch.forEach((p, i) => p.resolve({ output: parts[i]!, infer: outcome.infer, queued: start - p.arrived, batch: batch.length }));
            return;
          }
        }
      } else {
        this.disableBatching("the model's first input or output dimension is not dynamic");
      }
    }
    // Batch of one (or a batch that could not be run together): one run per request, in order.
    for (const p of batch) {
      const startedAt = this.now();
      try {
        this.record(1);
        const { output, infer } = await this.runOne(p.input, p.context);
        p.resolve({ output, infer, queued: startedAt - p.arrived, batch: 1 });
      } catch (error) {
        p.reject(error);
      }
    }
  }
}

/** Per-model batchers (one InferenceBatcher, or lane, per model). */
export class InferenceBatchers<C = unknown, O = Tensor> {
  private readonly lanes = new Map<string, InferenceBatcher<C, O>>();

  constructor(
    private readonly backendFor: (modelHash: string) => BatcherBackend<C, O>,
    private readonly policyFor: (modelHash: string) => BatchPolicy,
    private readonly onBatchingDisabled?: (modelHash: string, reason: string, error?: unknown) => void,
  ) {}

  lane(modelHash: string): InferenceBatcher<C, O> {
    const key = modelHash.toLowerCase();
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      const off = this.onBatchingDisabled;
      lane = new InferenceBatcher<C, O>(this.backendFor(key), this.policyFor(key), undefined, off === undefined ? undefined : (reason, error) => off(key, reason, error));
      this.lanes.set(key, lane);
    }
    return lane;
  }

  get(modelHash: string): InferenceBatcher<C, O> | undefined {
    return this.lanes.get(modelHash.toLowerCase());
  }
}
