/**
 * FAULT INJECTION, FOR TESTS AND DEMOS ONLY. GameCheater (below) lies to the FraudGame: it signs a wrong
 * output and defends a forged canonical trace. Nothing in the worker's config can select it: only code
 * that constructs a Worker with `traceBuilder: cheater` and `gameResponder: cheater.responder`
 * (test/e2e/dispute.test.ts, scripts/demo-dispute.ts, bench/dispute.ts) gets one.
 */
import type { Tensor, Hex } from "../protocol/index.js";
import { type TraceBuilder, type TraceContext, type TraceOutcome, responderFor, type DisputeResponder } from "../worker/index.js";
import { CanonicalTrace, type Precision, type Program } from "../canonical/index.js";

/** A copy of float32 tensor `t` with element `element` changed. */
function altered(t: Tensor, element: number): Tensor {
  const data = (t.data as Float32Array).slice();
  if (!(data instanceof Float32Array)) throw new Error("fault injection alters float32 tensors only");
  data[element] = data[element]! * -1.5 + 0.25;
  return { ...t, data };
}

/**
 * FAULT INJECTION (tests/demos only), for the FraudGame: a worker that signs a wrong output (the
 * classifier's two probabilities swapped, the wrong answer; no trace, as every game-resolved result) and, when a
 * game is opened on it, defends a canonical trace forged to match what it signed: element `element` of a middle
 * float32 map step altered, the final tensor replaced by the signed output. Its commitment is consistent; the
 * challenger's canonical re-run finds the output beyond τ_out, and the bisection finds the altered element, which
 * a one-step leaf proof shows false. Give `build` as the worker's traceBuilder and `responder` as its game
 * answerer's `responderOf` (stack/local-stack.ts `gameResponder`).
 */
export class GameCheater implements TraceBuilder {
  /** Every result it faked (the output it signed), and the step and element its trace alters once disputed. */
  readonly faults: Array<{ requestId: string; output: Tensor; step?: number; element?: number }> = [];

  async build(context: TraceContext): Promise<TraceOutcome> {
    const honest = context.output;
    if (honest === undefined) throw new Error("the cheater needs the plain run's output");
    const output = { ...honest, data: (honest.data as Float32Array).slice().reverse() };
    this.faults.push({ requestId: context.job.requestId.toLowerCase(), output });
    return { output };
  }

  /** The forged responder for a faked request (undefined: answer honestly). */
  readonly responder = (d: { program: Program; input: Tensor; precision: Precision; requestId: Hex; attempt: number }): DisputeResponder | undefined => {
    const fault = this.faults.find((f) => f.requestId === d.requestId.toLowerCase());
    if (fault === undefined) return undefined;
    const honest = CanonicalTrace.build(d.program, d.input, { precision: d.precision });
    const tensors = honest.tensors; // read back from its spill file, then the file goes
    honest.close();
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

/**
 * FAULT INJECTION (tests/demos only): a fast runtime that an input drives off the canonical output by more than
 * τ_out but within τ_major (what a requester's crafted input on an ill-conditioned model would do to an honest
 * onnxruntime run). It moves element 0 of every OPTIMISTIC output it signs by the midpoint of the two bounds; its
 * canonical trace stays honest (no `responder`: the worker's answerer answers canonically), so a dispute on it
 * rules OutputMinor.
 */
export class OutputDrift implements TraceBuilder {
  readonly drifted: string[] = [];
  constructor(private readonly tauOut: { abs: number; rel: number }, private readonly tauMajor: { abs: number; rel: number }) {}

  async build(context: TraceContext): Promise<TraceOutcome> {
    const out = context.output;
    if (out === undefined || !(out.data instanceof Float32Array)) throw new Error("OutputDrift needs a float32 plain-run output");
    const data = out.data.slice();
    const c = Math.abs(data[0]!);
    const lo = this.tauOut.abs + this.tauOut.rel * c;
    const hi = this.tauMajor.abs + this.tauMajor.rel * c;
    if (!(hi > 2 * lo)) throw new Error(`no room between τ_out (${lo}) and τ_major (${hi}) to drift into`);
    data[0] = data[0]! + (lo + hi) / 2;
    this.drifted.push(context.job.requestId.toLowerCase());
    return { output: { ...out, data } };
  }
}
