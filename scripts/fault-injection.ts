/**
 * FAULT INJECTION, FOR TESTS AND DEMOS ONLY. GameCheater (below) lies to the FraudGame: it signs a wrong
 * output and defends a forged canonical trace. FaultyTraceBuilder (v1, published traces) is a trace builder that lies: it runs the model's real
 * traced session, then alters one element of one intermediate trace tensor (and, with
 * `corruptOutput`, the model output it signs), commits and publishes that trace, and returns it as
 * the result. A worker given this builder signs a wrong computation that an honest challenger can
 * prove on-chain with a one-step fraud proof (docs/OPTIMISTIC.md "One-step fraud proofs").
 *
 * Nothing in the worker's config can select it: only code that constructs a Worker with
 * `traceBuilder: new FaultyTraceBuilder(...)` (test/e2e/dispute.test.ts, scripts/demo-dispute.ts,
 * bench/dispute.ts) gets one.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { ModelGraph } from "../protocol/commitment.js";
import { resolveNpmUri } from "../protocol/fetch.js";
import type { Tensor } from "../protocol/tensor.js";
import { commitTrace } from "../protocol/trace.js";
import type { Hex } from "../protocol/types.js";
import { publishTrace, TraceSession, ZERO_TRACE_ROOT, type TraceBuilder, type TraceContext, type TraceOutcome } from "../worker/trace.js";
import { CanonicalTrace } from "../canonical/trace.js";
import type { Precision } from "../canonical/float.js";
import type { Program } from "../canonical/program.js";
import { responderFor, type DisputeResponder } from "../worker/dispute.js";

export interface FaultSpec {
  /** Which trace tensor to alter; default: the output of the 4th BatchNormalization (an intermediate activation). */
  traceIndex?: number;
  /** Which element of it; default 7. */
  element?: number;
  /** Also reverse the model output it signs (the classifier's two probabilities swap: the wrong answer). */
  corruptOutput?: boolean;
}

/** The default target: the first output of the `nth` (0-based) operator of `opType` in the graph. */
export function faultTarget(graph: ModelGraph, opType = "BatchNormalization", nth = 3): number {
  const op = graph.operators.filter((o) => o.opType === opType)[nth];
  if (op === undefined) throw new Error(`the model has no ${opType} #${nth}`);
  return op.outputs[0]!.trace;
}

function altered(t: Tensor, element: number): Tensor {
  const data = (t.data as Float32Array).slice();
  if (!(data instanceof Float32Array)) throw new Error("fault injection alters float32 tensors only");
  data[element] = data[element]! * -1.5 + 0.25;
  return { ...t, data };
}

/** FAULT INJECTION (tests/demos only): see the file header. */
export class FaultyTraceBuilder implements TraceBuilder {
  readonly standalone = true;
  private session: Promise<TraceSession> | undefined;
  /** Every result this builder faked: requestId -> the altered trace index. */
  readonly faults: Array<{ requestId: string; traceIndex: number; element: number; traceRoot: Hex }> = [];

  /** What the next result alters (may be changed between results). */
  fault: FaultSpec;

  constructor(private readonly options: { blobStoreUrl: string; fault?: FaultSpec; logger?: Logger; modelPath?: (uris: readonly string[]) => string }) {
    this.fault = { ...options.fault };
  }

  async build(context: TraceContext, signal?: AbortSignal): Promise<TraceOutcome> {
    this.session ??= (async () => {
      const path = this.options.modelPath?.(context.model.uris) ?? resolveNpmUri(context.model.uris[0]!);
      return TraceSession.open(await readFile(path), { threaded: false, intraOpNumThreads: 1 });
    })();
    const session = await this.session;
    const honest = await session.run(context.input);
    const traceIndex = this.fault.traceIndex ?? faultTarget(session.graph);
    const element = this.fault.element ?? 7;
    const tensors = honest.tensors.slice();
    tensors[traceIndex] = altered(tensors[traceIndex]!, element);
    if (this.fault.corruptOutput === true) {
      const last = tensors[tensors.length - 1]!;
      tensors[tensors.length - 1] = { ...last, data: (last.data as Float32Array).slice().reverse() };
    }
    const committed = commitTrace(tensors);
    const t0 = performance.now();
    const published = await publishTrace(this.options.blobStoreUrl, { ...committed, tensors }, { timeoutMs: 30_000, ...(signal === undefined ? {} : { signal }) });
    this.faults.push({ requestId: context.job.requestId, traceIndex, element, traceRoot: committed.traceRoot });
    this.options.logger?.warn({ requestId: context.job.requestId, traceIndex, element }, "FAULT INJECTION: signing an altered trace");
    return {
      traceRoot: committed.traceRoot,
      output: tensors[tensors.length - 1]!,
      stats: { run: honest.timings.run, hash: honest.timings.hash, upload: performance.now() - t0, committed: tensors.length, tensors: tensors.length, bytes: published.bytes },
    };
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s !== undefined) await (await s).release();
  }
}

/**
 * FAULT INJECTION (tests/demos only), for the FraudGame (issue 11): a worker that signs a wrong output (the
 * classifier's two probabilities swapped, the wrong answer; no trace, as every game-resolved result) and, when a
 * game is opened on it, defends a canonical trace forged to match what it signed: element `element` of a middle
 * float32 map step altered, the final tensor replaced by the signed output. Its commitment is consistent; the
 * challenger's canonical re-run finds the output beyond τ_out, and the bisection finds the altered element, which
 * a one-step leaf proof shows false. Give `build` as the worker's traceBuilder and `responder` as its game
 * answerer's `responderOf` (scripts/local-stack.ts `gameResponder`).
 */
export class GameCheater implements TraceBuilder {
  /** Every result it faked (the output it signed), and the step and element its trace alters once disputed. */
  readonly faults: Array<{ requestId: string; output: Tensor; step?: number; element?: number }> = [];

  async build(context: TraceContext): Promise<TraceOutcome> {
    const honest = context.output;
    if (honest === undefined) throw new Error("the cheater needs the plain run's output");
    const output = { ...honest, data: (honest.data as Float32Array).slice().reverse() };
    this.faults.push({ requestId: context.job.requestId.toLowerCase(), output });
    return { traceRoot: ZERO_TRACE_ROOT, output };
  }

  /** The forged responder for a faked request (undefined: answer honestly). */
  readonly responder = (d: { program: Program; input: Tensor; precision: Precision; requestId: Hex; attempt: number }): DisputeResponder | undefined => {
    const fault = this.faults.find((f) => f.requestId === d.requestId.toLowerCase());
    if (fault === undefined) return undefined;
    const honest = CanonicalTrace.build(d.program, d.input, { precision: d.precision });
    const tensors = honest.tensors.slice();
    const maps = d.program.steps.filter((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2 && tensors[s.index]!.data.byteLength >= 16 * 1024);
    const step = maps[Math.floor(maps.length / 2)];
    if (step === undefined) throw new Error("the model has no middle float32 map step to alter");
    const element = Math.floor((tensors[step.index]!.data as Float32Array).length / 2);
    tensors[step.index] = altered(tensors[step.index]!, element);
    tensors[tensors.length - 1] = fault.output;
    fault.step = step.index;
    fault.element = element;
    return responderFor(new CanonicalTrace(d.program, d.input, tensors, d.precision), d.requestId, d.attempt);
  };
}
