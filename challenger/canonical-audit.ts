/**
 * The challenger's decision to dispute under canonical semantics (docs/V2.md §5 "Off-chain"): run the
 * model canonically on the request's input and compare the signed output with the canonical output
 * under the model's τ_out (canonical/descent.ts `toleranceCheck`: NaN = NaN, the same infinity equal,
 * |w − c| ≤ abs + rel·|c| in binary64). Dispute only beyond τ_out: an honest challenger then knows it
 * wins the descent.
 *
 * Which results: all, or a seeded unpredictable fraction: a result is audited when
 * HMAC-SHA256(secret, requestId) read as a 64-bit fraction is below `fraction`, so a worker cannot tell
 * which of its results this challenger checks, and the challenger's choice is reproducible.
 *
 * A model the canonical runtime cannot lower is never skipped silently: its result is reported as
 * `unsupported` with every operator missing (the challenger audits what it can), and the batch goes on.
 */
import { createHmac } from "node:crypto";
import {
  toleranceCheck,
  type Tau,
  type ToleranceVerdict,
  type Precision,
  analyzeModel,
  lowerModel,
  supportedOperators,
  type Program,
  runSteps,
  outputStep,
  CanonicalTrace,
} from "../canonical/index.js";
import { modelGraph, isError, fromHex, type Tensor, type Hex } from "../protocol/index.js";

export interface CanonicalAuditConfig {
  /** The challenger's secret (never published): seeds which results it audits. */
  secret: Uint8Array;
  /** Fraction of results audited, in (0, 1]; 1 audits all. */
  fraction: number;
}

/** One OPTIMISTIC result to audit. */
export interface AuditTarget {
  requestId: Hex;
  /** The model's ONNX bytes and its committed static input shape (lowered once per `modelKey`). */
  model: { key: string; bytes: Uint8Array; inputShape: number[] };
  precision: Precision;
  tau: Tau;
  input: Tensor;
  /** A model with several inputs: one tensor per input in canonical name order (`input` is the first). */
  inputs?: Tensor[];
  /** The worker's signed output. */
  output: Tensor;
  /** A model with several outputs: one signed tensor per output in canonical name order (`output` is the first). */
  outputs?: Tensor[];
}

export type AuditVerdict =
  | { requestId: Hex; status: "notSampled" }
  | { requestId: Hex; status: "unsupported"; reason: string; operators: string[] }
  | { requestId: Hex; status: "within"; tolerance: ToleranceVerdict; ms: number }
  /** Beyond τ_out: open (or join) a dispute and play the descent with `trace`. */
  | { requestId: Hex; status: "dispute"; tolerance: ToleranceVerdict; trace: CanonicalTrace; ms: number };

/** Whether this challenger audits `requestId`: HMAC-SHA256(secret, requestId) as a fraction < `fraction`. */
export function isSampled(secret: Uint8Array, requestId: Hex, fraction: number): boolean {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  if (fraction === 1) return true;
  const mac = createHmac("sha256", secret).update(fromHex(requestId)).digest();
  return Number(mac.readBigUInt64BE(0) >> 11n) / 2 ** 53 < fraction;
}

/** Lowered programs by model key (a model that fails to lower is remembered with its reason). */
export class ProgramCache {
  private readonly programs = new Map<string, Program | { reason: string; operators: string[] }>();

  get(model: AuditTarget["model"]): Program | { reason: string; operators: string[] } {
    const key = `${model.key}@${model.inputShape.join("x")}`;
    let p = this.programs.get(key);
    if (p === undefined) {
      try {
        p = lowerModel(model.bytes, { inputShape: model.inputShape });
      } catch (error) {
        if (!isError(error)) throw error;
        p = { reason: `${error.code}: ${error.message}`, operators: refusedOperators(model.bytes, model.inputShape) };
      }
      this.programs.set(key, p);
    }
    return p;
  }
}

/**
 * The operator types the lowering cannot take: those with no definition, and those of every node it
 * refuses at this input shape (canonical/lower.ts `analyzeModel` goes on past a refusal: a defined
 * operator in a form it refuses, e.g. a linear Resize, is named too).
 */
export function refusedOperators(bytes: Uint8Array, inputShape: number[]): string[] {
  const names = new Set(missingOperators(bytes));
  try {
    for (const n of analyzeModel(bytes, { inputShape }).nodes) if (n.status === "unsupported") names.add(n.domain === "" || n.domain === "ai.onnx" ? n.opType : `${n.domain}.${n.opType}`);
  } catch {
    // an unparsable model: the operator types without a definition only
  }
  return [...names].sort();
}

/** Every operator type of the model the canonical lowering has no definition for. */
export function missingOperators(bytes: Uint8Array): string[] {
  const supported = new Set(supportedOperators());
  try {
    return [...new Set(modelGraph(bytes).operators.filter((o) => !supported.has(o.opType) || (o.domain !== "" && o.domain !== "ai.onnx")).map((o) => (o.domain === "" ? o.opType : `${o.domain}.${o.opType}`)))].sort();
  } catch {
    return [];
  }
}

/**
 * The model's canonical outputs on its inputs (one tensor, or one per input in canonical name order), named
 * and ordered as the program's outputs (canonical name order), for a result whose worker committed an output
 * hash and withheld the bytes; or why the canonical runtime cannot run it.
 */
export function canonicalOutputs(model: AuditTarget["model"], input: Tensor | readonly Tensor[], precision: Precision, cache = new ProgramCache()): { names: string[]; outputs: Tensor[] } | { reason: string } {
  const program = cache.get(model);
  if (!("steps" in program)) return { reason: program.reason };
  try {
    // Step by step, each tensor dropped once no later step reads it: only the outputs stay in memory.
    const outputs: Tensor[] = [];
    const first = outputStep(program, 0);
    runSteps(program, input, { precision, release: true }, (j, t) => void (j >= first && outputs.push(t)));
    return { names: program.outputs.map((o) => o.name), outputs };
  } catch (error) {
    if (!isError(error)) throw error;
    return { reason: `${error.code}: ${error.message}` };
  }
}

/** Audits one result. */
export function auditResult(target: AuditTarget, config: CanonicalAuditConfig, cache = new ProgramCache()): AuditVerdict {
  const { requestId } = target;
  if (!isSampled(config.secret, requestId, config.fraction)) return { requestId, status: "notSampled" };
  const program = cache.get(target.model);
  if (!("steps" in program)) return { requestId, status: "unsupported", ...program };
  const t0 = performance.now();
  // The trace is built as the program runs (each step tensor hashed, then spilled to a temporary file):
  // a result within τ closes it at once, a disputed one keeps it for the game (the player closes it).
  let trace: CanonicalTrace;
  try {
    trace = CanonicalTrace.build(program, target.inputs ?? target.input, { precision: target.precision });
  } catch (error) {
    if (!isError(error)) throw error;
    return { requestId, status: "unsupported", reason: `${error.code}: ${error.message}`, operators: [] };
  }
  // Several outputs: each signed output against its canonical one; the first beyond τ_out decides.
  const signed = target.outputs ?? [target.output];
  const checks = trace.outputs.map((c, k) => (signed[k] === undefined ? toleranceCheck(target.output, c, target.tau) : toleranceCheck(signed[k]!, c, target.tau)));
  const tolerance = checks.find((c) => !c.ok) ?? checks[0]!;
  if (tolerance.ok) {
    trace.close();
    return { requestId, status: "within", tolerance, ms: performance.now() - t0 };
  }
  return { requestId, status: "dispute", tolerance, trace, ms: performance.now() - t0 };
}

export interface AuditReport {
  verdicts: AuditVerdict[];
  audited: number;
  notSampled: number;
  unsupported: Array<{ requestId: Hex; reason: string; operators: string[] }>;
  disputes: Hex[];
}

/** Audits a batch: an unsupported model is reported and the rest audited. */
export function auditBatch(targets: readonly AuditTarget[], config: CanonicalAuditConfig): AuditReport {
  const cache = new ProgramCache();
  const verdicts = targets.map((t) => auditResult(t, config, cache));
  return {
    verdicts,
    audited: verdicts.filter((v) => v.status === "within" || v.status === "dispute").length,
    notSampled: verdicts.filter((v) => v.status === "notSampled").length,
    unsupported: verdicts.flatMap((v) => (v.status === "unsupported" ? [{ requestId: v.requestId, reason: v.reason, operators: v.operators }] : [])),
    disputes: verdicts.flatMap((v) => (v.status === "dispute" ? [v.requestId] : [])),
  };
}
