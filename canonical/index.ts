/** Canonical semantics (docs/CANONICAL.md): numbers, functions, lowering, runtime, the program commitment and τ_out calibration. */
export * from "./float.js";
export * from "./math.js";
export * from "./program.js";
export { analyzeModel, lowerModel, supportedOperators, type LowerOptions, type ModelAnalysis, type NodeLowering } from "./lower.js";
export { runProgram, runSteps, lastReaders, type RunOptions, type RunResult, type StepRunOptions } from "./run.js";
export * from "./commitment.js";
export { finalizeReduce, foldPartials, mapElement, moveElement, moveSource, reduceTerms, type OperandReader, type ReduceElement } from "./element.js";
export * from "./partial.js";
export { CanonicalTrace, buildPartialTree, partialTreeOf, tensorTreeOf, type PartialTree, type TensorTree, type TraceOptions } from "./trace.js";
export { FlatTree, depthOf, nodeKey, pathUnderRevealed, type NodeRef } from "./tree.js";
export { elementReads, initReads, termCount, termReads, type Read } from "./reads.js";
export {
  buildToleranceProof,
  checkFinding,
  checkToleranceProof,
  descend,
  tauFromBits,
  toleranceCheck,
  withinTau,
  type DescentResult,
  type Finding,
  type LeafContext,
  type LeafVerdict,
  type OperandProof,
  type Tau,
  type ToleranceProof,
  type ToleranceProofVerdict,
  type ToleranceVerdict,
  type WorkerClaims,
} from "./descent.js";
export * from "./calibrate.js";
export * from "./terms.js";
export { elementFromChunk } from "./descent.js";
export { openElement } from "./tolerance.js";
export { checkStep } from "./leaf-probe.js";
export type { GasRow } from "./leaf-probe.js";
export { MAX_CONSTANT_INDICES, MAX_CONSTANT_STEP } from "./lower.js";
