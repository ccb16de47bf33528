/**
 * The challenger: audits OPTIMISTIC results without re-running the model. It rebuilds the model
 * commitment from the ONNX file (protocol/commitment.ts), fetches a result's trace by its root
 * (fetchTrace), and recomputes every operator, or a sample of elements, from the operator's own
 * committed inputs with reference operators (checkTrace). A fault names the operator, element,
 * claimed and recomputed values and the bound: what a one-step fraud proof will carry.
 *
 *   const commitment = await commitModel(onnxBytes, { inputShape: [1, 3, 48, 192] });
 *   const { tensors } = await fetchTrace(blobStoreUrl, result.traceRoot);
 *   const verdict = checkTrace(commitment, { input, tensors }, { fraction: 0.05, seed });
 */
export { ChallengerError, isChallengerError, type ChallengerErrorCode } from "./errors.js";
export {
  OPERATORS,
  FLOAT32_U,
  gamma,
  floatBound,
  allowedError,
  isSupported,
  prepareOperator,
  evaluateKernel,
  type Element,
  type OpKernel,
  type OpContext,
  type OpFactory,
} from "./ops.js";
export {
  checkTrace,
  checkElement,
  compareElement,
  operatorKernel,
  referenceTrace,
  type TraceTensors,
  type CheckOptions,
  type CheckResult,
  type Fault,
  type ElementCheck,
} from "./checker.js";
export { fetchTrace, type FetchTraceOptions } from "./fetchTrace.js";
export { StepProofBuilder, softFloatToNumber, type StepProofArgs, type StepContextArgs, type TensorProofArgs, type ChunkProofArgs } from "./onestep.js";
export { openChallenge, submitStepProof, type ResultRecordArgs } from "./dispute.js";
// The daemon (./daemon.js) imports the generated contract bindings; import it directly.
export { auditBatch, auditResult, isSampled, missingOperators, ProgramCache, type AuditReport, type AuditTarget, type AuditVerdict, type CanonicalAuditConfig } from "./canonical-audit.js";
