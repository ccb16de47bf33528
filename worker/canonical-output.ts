/**
 * The canonical output of a request reopened after an OutputMinor ruling (docs/OPTIMISTIC.md
 * "After an OutputMinor"). OutputMinor says the disputed worker's canonical trace was right but its
 * signed output, from a fast runtime, was beyond τ_out: the input drives fast runtimes away from the
 * canonical output (a requester may have crafted it on a decision boundary). Served again with a fast
 * runtime, the same input could cost the next worker the same penalty, and the one after. So a worker
 * that picks up such a request signs the CANONICAL output (τ = 0: the canonical program's own output,
 * computed by canonical/run.ts at the model's registered precision), which no dispute can move: its
 * trace is the canonical trace, and `proveOutput` finds nothing beyond τ_out.
 *
 * The history is the oracle's: the request's `attempt` (results overturned so far) and each earlier
 * attempt's dispute ruling (`getDispute(requestId, k)`). A model whose canonical run takes longer than
 * `maxMs` (measured on its first canonical run, then remembered) is refused with that reason.
 */
import { readFile } from "node:fs/promises";
import type { Provider } from "ethers";
import { PRECISIONS, type Precision, lowerModel, type Program, runProgram } from "../canonical/index.js";
import { IInferenceOracle__factory, IModelRegistry__factory, OracleError, type Tensor, type Hex } from "../protocol/index.js";

/** IDisputeGame.Ruling.OutputMinor. */
export const RULING_OUTPUT_MINOR = 3;

/** What the worker must know of a reopened request: whether an earlier attempt was ruled OutputMinor, and the model's precision. */
export interface CanonicalHistory {
  /** The earlier attempt ruled OutputMinor, or undefined when none was (or the request was never reopened). */
  outputMinorAttempt(oracle: string, requestId: string, attempt: number): Promise<number | undefined>;
  /** The model's registered canonical precision (CanonicalTerms); undefined when it has none. */
  precision(oracle: string, modelHash: string): Promise<Precision | undefined>;
}

/** Reads the history from the oracle and its registry. */
export class OracleCanonicalHistory implements CanonicalHistory {
  constructor(private readonly provider: Provider) {}

  async outputMinorAttempt(oracle: string, requestId: string, attempt: number): Promise<number | undefined> {
    const o = IInferenceOracle__factory.connect(oracle, this.provider);
    for (let k = attempt - 1; k >= 0; k--) {
      try {
        if (Number((await o.getDispute(requestId, k)).ruling) === RULING_OUTPUT_MINOR) return k;
      } catch (cause) {
        throw new OracleError("CHAIN_UNAVAILABLE", `reading the dispute on attempt ${k} of request ${requestId} failed`, { cause, retryable: true });
      }
    }
    return undefined;
  }

  async precision(oracle: string, modelHash: string): Promise<Precision | undefined> {
    try {
      const registry = IModelRegistry__factory.connect(await IInferenceOracle__factory.connect(oracle, this.provider).registry(), this.provider);
      if (!(await registry.hasCanonicalTerms(modelHash))) return undefined;
      const code = Number((await registry.canonicalTerms(modelHash)).precision);
      return (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === code);
    } catch (cause) {
      throw new OracleError("CHAIN_UNAVAILABLE", `reading the canonical terms of model ${modelHash} failed`, { cause, retryable: true });
    }
  }
}

/** Canonical runs of whole models: programs lowered once per model and input shape, slow models remembered. */
export class CanonicalOutputs {
  private readonly programs = new Map<string, Promise<Program>>();
  /** Models whose canonical run took longer than maxMs: the measured time. */
  private readonly tooSlow = new Map<string, number>();

  constructor(private readonly maxMs: number) {}

  /**
   * The canonical output of the model at `path` on `input`. Throws CANONICAL_TOO_SLOW (not retryable) for a
   * model whose canonical run takes longer than maxMs, OP_UNSUPPORTED for one the lowering refuses.
   */
  async output(modelHash: Hex, path: string, input: Tensor, precision: Precision): Promise<{ output: Tensor; ms: number }> {
    const key = `${modelHash.toLowerCase()}@${input.shape.join("x")}`;
    const slow = this.tooSlow.get(modelHash.toLowerCase());
    if (slow !== undefined) throw tooSlow(modelHash, slow, this.maxMs);
    let program = this.programs.get(key);
    if (program === undefined) {
      program = readFile(path).then((bytes) => lowerModel(bytes, { inputShape: input.shape }));
      this.programs.set(key, program);
      program.catch(() => this.programs.delete(key));
    }
    const p = await program;
    const t0 = performance.now();
    const { output } = runProgram(p, input, { precision });
    const ms = performance.now() - t0;
    if (ms > this.maxMs) {
      this.tooSlow.set(modelHash.toLowerCase(), ms);
      throw tooSlow(modelHash, ms, this.maxMs);
    }
    return { output, ms };
  }
}

function tooSlow(modelHash: string, ms: number, maxMs: number): OracleError {
  return new OracleError(
    "CANONICAL_TOO_SLOW",
    `the request was reopened after an OutputMinor ruling, so it must be served with the canonical output (τ = 0), and model ${modelHash}'s canonical run takes ${Math.round(ms)} ms, over this worker's canonicalOutputMaxMs ${maxMs}: refused`,
    { details: { modelHash, ms: Math.round(ms), maxMs } },
  );
}
