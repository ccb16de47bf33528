/** Canonical semantics (docs/CANONICAL.md): numbers, functions, lowering, runtime, the program commitment and τ_out calibration. */
export * from "./float.js";
export * from "./math.js";
export * from "./program.js";
export { analyzeModel, lowerModel, supportedOperators, type LowerOptions, type ModelAnalysis, type NodeLowering } from "./lower.js";
export { runProgram, type RunOptions, type RunResult } from "./run.js";
export * from "./commitment.js";
export { finalizeReduce, foldPartials, mapElement, moveElement, moveSource, reduceTerms, type OperandReader, type ReduceElement } from "./element.js";
export * from "./partial.js";
export * from "./calibrate.js";
