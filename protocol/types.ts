/** A 0x-prefixed hex string. */
export type Hex = `0x${string}`;

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Mirrors `type RequestId is bytes32` in contracts/types/RequestId.sol. */
export type RequestId = Brand<Hex, "RequestId">;
/** sha256 of an ONNX file. */
export type ModelHash = Brand<Hex, "ModelHash">;
/** Tensor hash (contracts/libraries/TensorHash.sol). */
export type TensorHash = Brand<Hex, "TensorHash">;

/** Mirrors IInferenceOracle.Tier. */
export enum Tier {
  NONE = 0,
  OPTIMISTIC = 1,
  ZK = 2,
}

/** Mirrors IInferenceOracle.RequestStatus. */
export enum RequestStatus {
  None = 0,
  Requested = 1,
  Submitted = 2,
  Challenged = 3,
  Fulfilled = 4,
  Refunded = 5,
}

/** Mirrors IInferenceOracle.RefundReason. */
export enum RefundReason {
  Expired = 0,
  RejectedByWorker = 1,
  WorkerFaultAfterDeadline = 2,
  TooManyFaults = 3,
}

/** Mirrors Ruling (contracts/interfaces/IDisputeGame.sol): how a dispute was decided. */
export enum Ruling {
  None = 0,
  WorkerRight = 1,
  WorkerFault = 2,
  OutputMinor = 3,
}

/** Reasons a worker gives when it rejects a request (the uint16 in Rejection). */
export enum RejectReason {
  MalformedInput = 1,
  SpecMismatch = 2,
  InputUnavailable = 3,
  InputHashMismatch = 4,
  ModelUnavailable = 5,
  InferenceFailed = 6,
}

export function tierName(tier: Tier): string {
  return Tier[tier] ?? `tier ${tier}`;
}
