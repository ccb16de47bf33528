/**
 * `oracle model check <file.onnx>`: what the oracle can promise for a model, per tier, with the reasons
 * (docs/OPTIMISTIC.md "Checking a model"). Per ONNX operator type: node counts and what lowers to the
 * canonical program (for the refused, why); the widest reduction and the bisection depth bound; the
 * peak memory of building the commitment; τ_out calibrated against onnxruntime (canonical/calibrate.ts)
 * with the canonical runtime's speed against it; the CanonicalTerms a registration would set; and a
 * verdict for NONE, OPTIMISTIC and ZK. `oracle model register` runs it and refuses OPTIMISTIC unless the
 * verdict allows it.
 */
import { readFileSync } from "node:fs";
import { analyzeModel, calibrate, commitProgram, PRECISIONS, type Calibration, type HeldInput, type Precision, type ProgramCommitment } from "../canonical/index.js";
import { modelGraph, type ModelGraph, DTYPES, numel } from "../protocol/index.js";
import type { ModelDetails } from "../sdk/index.js";
import { cliError } from "./common.js";
import { onnxFileInfo } from "./deploy.js";
import { probeOnchain, type OnchainProbe } from "./leaf-gas.js";
import { encodedOutputBytes, severalInputs, severalZkVerdict } from "./check-several.js";
import { readInputFile } from "./request.js";
import { DEFAULT_INLINE_OUTPUT_CAP, blockerLines, discontinuousSteps, log2ceil, MiB, operatorRows, termCount, tryOnnxruntime, unparsedReport, zkVerdict } from "./check-verdicts.js";

export { checkLines } from "./check-lines.js";
export { DEFAULT_INLINE_OUTPUT_CAP } from "./check-verdicts.js";

/** Bytes per chunk of a tensor's data tree (protocol/tensor.ts: 1024-byte chunks). */
const CHUNK_BYTES = 1024;

export interface CheckOptions {
  /** The committed input shape (needed where the file's has symbolic dimensions). */
  inputShape?: number[];
  /** Calibrate τ_out (default true). */
  calibrate?: boolean;
  /** The precision to commit at and calibrate against (default fp32). */
  precision?: Precision;
  /** Real held inputs (.npy, .json, .png/.jpg for the shipped image models, canonical tensors). */
  inputFiles?: string[];
  /** Seeded random held inputs (default 2). */
  seeded?: number;
  range?: [number, number];
  /** The inline output cap (default DEFAULT_INLINE_OUTPUT_CAP): above it an output is delivered as its hash; reported, not a blocker. */
  maxInlineOutputBytes?: number;
  /** Optimization levels / threads (tests keep them few); default every one calibrate.ts knows. */
  levels?: Parameters<typeof calibrate>[2]["levels"];
  threads?: number[];
  wasm?: boolean;
  /** Probe every step through StepVerifier on an in-process EVM (cli/leaf-gas.ts; default true). */
  onchain?: boolean;
}

export interface OperatorRow {
  opType: string;
  domain: string;
  nodes: number;
  lowered: number;
  folded: number;
  unsupported: number;
  blocked: number;
  steps: number;
  /** Nodes whose every step passed the on-chain probe (null: not probed). */
  onchain: number | null;
  /** Worst leaf gas of this operator's steps (null: not probed, or no steps). */
  worstLeafGas: number | null;
  /** Distinct refusal reasons (unsupported nodes first). */
  reasons: string[];
}

export interface TierVerdict {
  allowed: boolean;
  /** What was checked, passed or not, in order. */
  reasons: string[];
  /** The reasons that refuse the tier (a subset of `reasons`; empty when allowed). */
  blocking?: string[];
}

export interface CanonicalTermsValues {
  semanticsVersion: number;
  precision: number;
  stepCount: number;
  weightsRoot: string;
  programRoot: string;
  commitment: string;
  /** binary64 bit patterns (uint64 hex) */
  tauOutAbs: string;
  tauOutRel: string;
  tauMajorAbs: string;
  tauMajorRel: string;
  /** the same as numbers */
  human: { tauOutAbs: number; tauOutRel: number; tauMajorAbs: number; tauMajorRel: number };
}

export interface CheckReport {
  file: string;
  modelHash: string;
  bytes: number;
  opset: number | null;
  input: { name: string; dtype: string; declared: Array<number | string>; shape: number[]; static: boolean; probe: boolean };
  /** The program's output type, else the file's declared one (0 = a dynamic dimension). */
  output: { name: string; dtype: string; shape: number[]; encodedBytes: number | null; inlineCap: number };
  nodes: { total: number; lowered: number; folded: number; unsupported: number; blocked: number };
  operators: OperatorRow[];
  program: { steps: number; map: number; move: number; reduce: number } | null;
  widestReduction: { K: number; step: number; op: string; node: string } | null;
  bisection: { manifestDepth: number; header: 1; chunkDepth: number; element: 1; partialDepth: number; depth: number; worstStep: number } | null;
  /**
   * Reading, parsing (weights hashed in place), lowering and commitment: time, and memory: RSS before and after (the program and weights held), the
   * process's RSS high-water mark after building, and how far building raised it (0 when it stayed under
   * the peak the process had already reached, e.g. loading onnxruntime).
   */
  commitment: (ProgramCommitment & { ms: number; rssBeforeMiB: number; rssAfterMiB: number; peakRssMiB: number; peakDeltaMiB: number }) | null;
  calibration: Calibration | null;
  calibrationNote: string | null;
  speed: Calibration["speed"] | null;
  canonicalTerms: CanonicalTermsValues | null;
  /** Every step through StepVerifier (cli/leaf-gas.ts): per step the worst leaf gas and any failure; null when not probed. */
  onchain: (Omit<OnchainProbe, "steps"> & { failures: Array<{ step: number; op: string; node: string; reason: string }>; steps: Array<{ step: number; op: string; leafGas: number }> }) | null;
  /**
   * A model's dispute figures in one place: nodes; disputable on the canonical runtime (lowered or folded) and
   * on-chain (every step of the node passed the probe); what blocks the rest; the widest reduction; the
   * bisection rounds; the worst leaf gas; τ_out; the commitment's peak memory.
   */
  summary: {
    nodes: number;
    disputable: { canonical: number; onchain: number | null };
    blockers: string[];
    widestReduction: number | null;
    rounds: number | null;
    worstLeafGas: number | null;
    tauOut: { abs: number; rel: number } | null;
    commitmentPeakRssMiB: number | null;
  };
  verdicts: { NONE: TierVerdict; OPTIMISTIC: TierVerdict; ZK: TierVerdict };
  notes: string[];
}

/** Runs the check. Throws only for an unreadable file or input, or a malformed option; everything else is a verdict with reasons. */
export async function checkModel(file: string, options: CheckOptions = {}): Promise<CheckReport> {
  // The commitment's memory and time: from reading the file, through the parse (weights hashed where
  // they lie in the file, protocol/onnxGraph.ts lazyWeight), the lowering and the commitment.
  const rssBefore = process.memoryUsage().rss;
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const info = onnxFileInfo(file);
  const bytes = readFileSync(file);
  let graph: ModelGraph;
  const several = info.inputs.length > 1 || info.outputs.length > 1;
  try {
    graph = modelGraph(bytes, { several });
  } catch (error) {
    return unparsedReport(file, bytes, info, options, (error as Error).message);
  }
  const io = several ? severalInputs(graph) : undefined;
  if (io !== undefined && ((options.inputFiles?.length ?? 0) > 0 || options.inputShape !== undefined)) {
    throw cliError("CONFIG_INVALID", `${file} has several inputs (${io.described}): --input-shape and --input files apply to one-input models (its shapes are read from the file, its calibration inputs seeded)`);
  }
  const declared = [...graph.input.shape] as Array<number | string>;
  const fileStatic = declared.every((d) => typeof d === "number" && d > 0);
  // Real held inputs first: a model with symbolic dimensions is probed at their shape.
  const held: HeldInput[] = [];
  const details = { modelHash: info.modelHash, input: { dtype: graph.input.dtype, shape: info.input.shape } } as unknown as ModelDetails;
  for (const f of options.inputFiles ?? []) held.push({ label: f, tensor: readInputFile(f, details) });
  let shape: number[];
  let probe = false;
  if (io !== undefined) {
    shape = io.inputShapes[graph.input.name]!;
    probe = !io.isStatic;
  } else if (options.inputShape !== undefined && options.inputShape.every((d) => d > 0)) {
    if (options.inputShape.length !== declared.length) throw cliError("CONFIG_INVALID", `--input-shape has rank ${options.inputShape.length}; the model's input has rank ${declared.length}`);
    shape = [...options.inputShape];
  } else if (fileStatic) {
    shape = declared as number[];
  } else {
    // Not static: check the operators at a probe shape (symbolic dimensions 1), never commit to it.
    const sample = held[0]?.tensor.shape;
    shape = declared.map((d, i) => (typeof d === "number" && d > 0 ? d : (options.inputShape?.[i] ?? 0) > 0 ? options.inputShape![i]! : sample?.length === declared.length ? sample[i]! : 1));
    probe = true;
  }
  const isStatic = !probe;
  const inlineCap = options.maxInlineOutputBytes ?? DEFAULT_INLINE_OUTPUT_CAP;
  const notes: string[] = [];

  const analysis = analyzeModel(graph, io !== undefined ? { inputShapes: io.inputShapes } : { inputShape: shape });
  const program = analysis.program;
  const precision: Precision = options.precision ?? "fp32";
  const commitment = program === undefined ? undefined : commitProgram(program, precision);
  const commitMs = performance.now() - t0;
  const peakAfter = process.resourceUsage().maxRSS * 1024;
  const rssAfter = process.memoryUsage().rss;

  const counts = { total: analysis.nodes.length, lowered: 0, folded: 0, unsupported: 0, blocked: 0 };
  for (const n of analysis.nodes) counts[n.status]++;
  const operators = operatorRows(analysis.nodes);

  let widest: CheckReport["widestReduction"] = null;
  let bisection: CheckReport["bisection"] = null;
  let outputBytes: number | null = null;
  if (program !== undefined) {
    const manifestDepth = log2ceil(program.steps.length);
    let worst = { depth: -1, chunk: 0, partial: 0, step: 0 };
    for (const step of program.steps) {
      const chunks = Math.max(1, Math.ceil((numel(step.output.shape) * DTYPES[step.output.dtype].size) / CHUNK_BYTES));
      const K = step.kind === "reduce" ? termCount(step) : 0;
      if (step.kind === "reduce" && (widest === null || K > widest.K)) widest = { K, step: step.index, op: step.op, node: step.origin.node };
      const chunk = log2ceil(chunks);
      const partial = step.kind === "reduce" ? log2ceil(K + 1) : 0;
      if (chunk + partial > worst.depth) worst = { depth: chunk + partial, chunk, partial, step: step.index };
    }
    bisection = { manifestDepth, header: 1, chunkDepth: worst.chunk, element: 1, partialDepth: worst.partial, depth: manifestDepth + 1 + worst.chunk + 1 + worst.partial, worstStep: worst.step };
    outputBytes = encodedOutputBytes(program.outputs);
    const disc = discontinuousSteps(program);
    if (disc.length > 0) {
      notes.push(
        `${disc.length} discontinuous step(s) (${[...new Set(disc.map((s) => s.origin.opType))].join(", ")}): an honest fast runtime may differ by O(1) at a tie, which no τ_out absorbs; a worker serving OPTIMISTIC must compute such a model canonically`,
      );
    }
  }

  // On-chain: every step through StepVerifier, its worst leaf gas.
  let onchain: OnchainProbe | undefined;
  let onchainNote: string | undefined;
  if (program !== undefined && options.onchain !== false) {
    try {
      onchain = await probeOnchain(program, precision);
    } catch (error) {
      onchainNote = `not probed on-chain: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  if (onchain !== undefined) {
    const byNode = new Map<string, { ok: boolean; gas: number; failure?: string }>();
    for (const s of onchain.steps) {
      const prev = byNode.get(s.node) ?? { ok: true, gas: 0 };
      byNode.set(s.node, { ok: prev.ok && s.failures.length === 0, gas: Math.max(prev.gas, s.leafGas), failure: prev.failure ?? (s.failures[0] === undefined ? undefined : `on-chain (step ${s.step} ${s.op}): ${s.failures[0]}`) });
    }
    for (const row of operators) row.onchain = 0;
    for (const n of analysis.nodes) {
      const row = operators.find((r) => r.opType === n.opType && r.domain === n.domain)!;
      const probe = byNode.get(n.node);
      if (n.status === "folded" || (n.status === "lowered" && probe?.ok === true)) row.onchain!++;
      if (probe !== undefined) row.worstLeafGas = Math.max(row.worstLeafGas ?? 0, probe.gas);
      if (probe?.failure !== undefined && row.reasons.length < 3) row.reasons.push(probe.failure);
    }
  }

  // τ_out.
  let calibration: Calibration | null = null;
  let calibrationNote: string | null = null;
  let runsOnOnnxruntime: { ok: boolean; reason: string } | undefined;
  if (program !== undefined && probe && held.length === 0) {
    // A probe shape of 1s is arbitrary (the classifier's pools empty out below 32 pixels): no τ_out there.
    calibrationNote = `not calibrated: the input shape is not static (give --input-shape, or --input files to probe at their shape)`;
  } else if (program !== undefined && options.calibrate !== false) {
    try {
      calibration = await calibrate(bytes, program, { precision, inputShape: shape, inputs: held, seeded: options.seeded ?? 2, ...(options.range ? { range: options.range } : {}), ...(options.levels ? { levels: options.levels } : {}), ...(options.threads ? { threads: options.threads } : {}), ...(options.wasm === undefined ? {} : { wasm: options.wasm }) });
      runsOnOnnxruntime = { ok: true, reason: `onnxruntime-node runs it (${calibration.runtimes.length} configurations on ${calibration.inputs.length} inputs)` };
      if (probe) calibrationNote = `calibrated at the probe shape [${shape}], not a committed one`;
    } catch (error) {
      calibrationNote = `not calibrated: ${(error as Error).message}`;
    }
  } else if (program === undefined) {
    calibrationNote = "not calibrated: the model does not lower to a canonical program";
  } else {
    calibrationNote = "not calibrated (--no-calibrate)";
  }
  if (runsOnOnnxruntime === undefined) runsOnOnnxruntime = await tryOnnxruntime(bytes, graph.input.dtype, shape, io?.others ?? []);

  // Verdicts.
  const none: TierVerdict = { allowed: runsOnOnnxruntime.ok, reasons: [runsOnOnnxruntime.reason] };
  const blockers = operators.filter((r) => r.unsupported > 0);
  const optimistic: string[] = [];
  const blocking: string[] = [];
  const refuse = (reason: string) => (optimistic.push(reason), blocking.push(reason));
  if (counts.unsupported + counts.blocked > 0 || program === undefined) {
    const named = blockers.map((r) => `${r.domain === "" || r.domain === "ai.onnx" ? "" : `${r.domain}.`}${r.opType} ×${r.unsupported} (${r.reasons[0]})`);
    refuse(
      counts.unsupported > 0
        ? `${counts.unsupported + counts.blocked} of ${counts.total} nodes are not disputable: ${named.join("; ")}${counts.blocked > 0 ? `; ${counts.blocked} more read their outputs` : ""}`
        : `the model does not lower to a canonical program: ${analysis.reason}`,
    );
  } else {
    optimistic.push(`every node lowers canonically (${counts.total} nodes → ${program.steps.length} steps)`);
  }
  if (onchain !== undefined) {
    const failed = onchain.steps.filter((x) => x.failures.length > 0);
    if (failed.length > 0) {
      const kinds = [...new Set(failed.map((x) => `${x.opType} (${x.op})`))];
      refuse(`${failed.length} of ${onchain.steps.length} steps cannot be proven on-chain (${kinds.join(", ")}): ${failed[0]!.failures[0]}`);
    } else {
      optimistic.push(`every step verifies on-chain: StepVerifier agrees with the canonical runtime bit for bit on sampled elements and terms; worst leaf ${onchain.worst?.leafGas ?? 0} gas (step ${onchain.worst?.step}, ${onchain.worst?.opType}), within ${onchain.gasLimit}`);
    }
  } else if (program !== undefined && onchainNote !== undefined) {
    refuse(onchainNote);
  }
  if (!isStatic) {
    refuse(io !== undefined ? `the input shapes (${io.described}) are not all static: a model with several inputs needs static shapes in the file` : `the input shape [${declared.join(",")}] is not static: give --input-shape to commit to one (checked at the probe shape [${shape}])`);
  } else {
    optimistic.push(io !== undefined ? `static input shapes ${io.described}; a dispute proves bundle members (FraudGame.openBundle)` : `static input shape [${shape}]`);
  }
  if (outputBytes !== null) {
    if (outputBytes > inlineCap) {
      // Not a blocker (docs/PROTOCOL.md "Large outputs"): such an output is delivered as its hash (a size proof),
      // the bytes in the blob store, where challengers fetch them (or recompute them canonically).
      optimistic.push(`the output (${outputBytes} bytes encoded) is above the inline cap of ${inlineCap}: delivered as its hash, the bytes at <relayer>/blobs/<outputHash> for challengers and dApps (docs/PROTOCOL.md "Large outputs")`);
    } else {
      optimistic.push(`the output (${outputBytes} bytes encoded) fits the inline cap of ${inlineCap}`);
    }
  }
  if (calibration !== null) {
    if (calibration.worst.nonFinite > 0) {
      refuse(`${calibration.worst.nonFinite} output element(s) were non-finite in a fast runtime and not in canonical (or the reverse) on held inputs: no finite τ_out covers them`);
    } else {
      optimistic.push(`τ_out calibrated: abs ${calibration.tauOut.abs} rel ${calibration.tauOut.rel} (${calibration.margin} × the worst of ${calibration.runtimes.length} runtime configurations on ${calibration.inputs.length} inputs)`);
    }
  } else if (program !== undefined && isStatic) {
    // OPTIMISTIC terms need a τ_out: a calibration that failed refuses; one skipped on request leaves it to registration.
    if (options.calibrate !== false) refuse(`τ_out: ${calibrationNote}`);
    else optimistic.push(`τ_out: ${calibrationNote}`);
  }

  const zk = several ? severalZkVerdict(graph) : zkVerdict(bytes);
  let canonicalTerms: CanonicalTermsValues | null = null;
  if (commitment !== undefined && calibration !== null && isStatic) {
    canonicalTerms = {
      semanticsVersion: commitment.semanticsVersion,
      precision: PRECISIONS[precision],
      stepCount: commitment.stepCount,
      weightsRoot: commitment.weightsRoot,
      programRoot: commitment.programRoot,
      commitment: commitment.commitment,
      tauOutAbs: calibration.tauOut.absBits,
      tauOutRel: calibration.tauOut.relBits,
      tauMajorAbs: calibration.tauMajor.absBits,
      tauMajorRel: calibration.tauMajor.relBits,
      human: { tauOutAbs: calibration.tauOut.abs, tauOutRel: calibration.tauOut.rel, tauMajorAbs: calibration.tauMajor.abs, tauMajorRel: calibration.tauMajor.rel },
    };
  }
  if (calibration !== null && !calibration.tf32.withinTauOut) notes.push(calibration.tf32.note);
  if (calibration !== null && held.length === 0) {
    notes.push("τ_out was calibrated on seeded random inputs only: pass representative inputs with --input (random inputs can leave a model far from its real outputs, e.g. an empty detection map, and understate τ_out)");
  }

  return {
    file,
    modelHash: info.modelHash,
    bytes: info.bytes,
    opset: info.opset ?? null,
    input: { name: graph.input.name, dtype: graph.input.dtype, declared, shape, static: isStatic, probe },
    output: { name: graph.output.name, dtype: program?.output.dtype ?? info.output.dtype, shape: program?.output.shape ?? info.output.shape, encodedBytes: outputBytes, inlineCap },
    nodes: counts,
    operators,
    program: program === undefined ? null : { steps: program.steps.length, map: program.steps.filter((s) => s.kind === "map").length, move: program.steps.filter((s) => s.kind === "move").length, reduce: program.steps.filter((s) => s.kind === "reduce").length },
    widestReduction: widest,
    bisection,
    commitment: commitment === undefined ? null : { ...commitment, ms: Math.round(commitMs), rssBeforeMiB: MiB(rssBefore), rssAfterMiB: MiB(rssAfter), peakRssMiB: MiB(peakAfter), peakDeltaMiB: MiB(Math.max(0, peakAfter - Math.max(peakBefore, rssBefore))) },
    calibration,
    calibrationNote,
    speed: calibration?.speed ?? null,
    canonicalTerms,
    onchain:
      onchain === undefined
        ? null
        : {
            verifier: onchain.verifier,
            gasLimit: onchain.gasLimit,
            disputable: onchain.disputable,
            worst: onchain.worst,
            ms: onchain.ms,
            failures: onchain.steps.flatMap((x) => x.failures.map((reason) => ({ step: x.step, op: x.op, node: x.node, reason }))),
            steps: onchain.steps.map((x) => ({ step: x.step, op: x.op, leafGas: x.leafGas })),
          },
    summary: {
      nodes: counts.total,
      disputable: { canonical: counts.lowered + counts.folded, onchain: onchain === undefined ? null : operators.reduce((a, r) => a + (r.onchain ?? 0), 0) },
      blockers: blockerLines(operators),
      widestReduction: widest?.K ?? null,
      rounds: bisection?.depth ?? null,
      worstLeafGas: onchain?.worst?.leafGas ?? null,
      tauOut: calibration === null ? null : { abs: calibration.tauOut.abs, rel: calibration.tauOut.rel },
      commitmentPeakRssMiB: commitment === undefined ? null : MiB(peakAfter),
    },
    verdicts: { NONE: none, OPTIMISTIC: { allowed: blocking.length === 0, reasons: optimistic, blocking }, ZK: zk },
    notes,
  };
}

