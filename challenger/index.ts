/**
 * The challenger: audits OPTIMISTIC results by re-running the model canonically (canonical-audit.ts)
 * and plays the FraudGame on a result beyond τ_out (daemon.ts). Results sign no trace (docs/V2.md §3):
 * the worker commits its canonical trace only once disputed. checker.ts and ops.ts keep the reference
 * operators with their float bounds (one element of an operator from its inputs), used by the lowering
 * and by the tolerance-drift analysis.
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
export { DEFAULT_MAX_AUDIT_BYTES } from "./daemon-blobs.js";
export { openChallenge, type ResultRecordArgs } from "./dispute.js";
// The daemon (./daemon.js) imports the generated contract bindings; import it directly.
export { auditBatch, auditResult, isSampled, missingOperators, ProgramCache, type AuditReport, type AuditTarget, type AuditVerdict, type CanonicalAuditConfig } from "./canonical-audit.js";
export { loadChallengerConfig } from "./config.js";
export { ChallengerDaemon } from "./daemon.js";
export type { DaemonTransaction } from "./daemon.js";
export { playGameDispute } from "./game-player.js";
