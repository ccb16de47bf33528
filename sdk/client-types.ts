/** The options, quotes, requests and outcomes OracleClient (client.ts) takes and returns. */
import type { Provider, Signer } from "ethers";
import type { Tensor, TensorSpec } from "../protocol/tensor.js";
import type { NamedTensorSpec } from "../protocol/bundle.js";
import type { RefundReason, RequestStatus, Tier, Hex } from "../protocol/types.js";

export interface OracleClientOptions {
  /** InferenceOracle address. */
  oracle: string;
  /** A Signer (to send requests) or a Provider (read-only); a Signer must be connected to a provider. */
  runner: Signer | Provider;
  /** A relayer's API (blob store): where large inputs are uploaded and outputs fetched. */
  relayerUrl?: string;
  /** ModelRegistry address (default: read from the oracle). */
  registry?: string;
  /** How often `wait` polls the chain (default 500 ms). */
  pollIntervalMs?: number;
  /** Largest output `outputBytes` reads from the relayer, checked while streaming (default 64 MiB). */
  maxOutputBytes?: number;
  /** How long `outputBytes` waits for the whole output (default 30 s). */
  outputTimeoutMs?: number;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_OUTPUT_TIMEOUT_MS = 30_000;

export interface ModelDetails {
  modelHash: Hex;
  owner: string;
  /** The model owner's fee per request, in wei. */
  fee: bigint;
  tiers: Tier[];
  active: boolean;
  resolver: string;
  zkVerifier: string;
  commitmentRoot: Hex;
  /** The first input / output (the only one of a one-input, one-output model). */
  input: TensorSpec;
  output: TensorSpec;
  /** Every input and output by name (registry `modelIO`); one unnamed ("") each for a model registered without names. */
  inputs: NamedTensorSpec[];
  outputs: NamedTensorSpec[];
  uris: string[];
}

export interface FeeQuote {
  ownerFee: bigint;
  minWorkerFee: bigint;
  /** What the callback's gas costs: callbackGasLimit x max(basefee, minGasPrice), with the basefee
   * taken 5/4 of the latest block's (it can rise 12.5 % a block before the request is mined). */
  callbackFee: bigint;
  /** The least msg.value requestInference accepts: ownerFee + minWorkerFee + callbackFee. */
  minimum: bigint;
}

export interface RequestOptions {
  modelHash: string;
  /** A tensor (fitted to the model's input spec: dtype converted, batch dimension added) or its canonical encoding
   * (a tensor, or a bundle for a model with several inputs). Give this or `inputs`. */
  input?: Tensor | Uint8Array;
  /** Every input by name, for a model with several (each fitted to its spec): sent as one bundle. */
  inputs?: Record<string, Tensor>;
  tier?: Tier;
  /** wei; default the quote's minimum. */
  fee?: bigint;
  /** Gas for the requester's callback; 0 (default) for an externally owned account: no callback. */
  /** The largest output the callback gets inline (bytes of its canonical encoding); longer ones come as the
   * hash only, their bytes at the relayer (`fetchOutput`). 0 (default): the oracle's cap (params.maxInlineOutputBytes);
   * 1: hash only, always. Above the cap the request reverts OracleInlineOutputTooHigh. */
  maxInlineOutput?: number;
  callbackGasLimit?: number;
  /** Seconds from the latest block's time until the request expires (default 3600). */
  deadlineSeconds?: number;
  /** Force the input out of line (uploaded to the relayer) even when small. */
  upload?: boolean;
  /**
   * Pay the fee in an ERC-20 token the model's owner accepts (docs/FEATURES.md, "ERC-20 fees"): `amount`
   * in the token's units (default the owner's fee + its minimum worker fee); `permit` (default true) signs
   * an EIP-2612 permit so the request is one transaction, else the SDK approves the oracle first when the
   * allowance is short. `fee` is then the wei for the callback's gas (default the quote's callback fee).
   */
  token?: { address: string; amount?: bigint; permit?: boolean };
}

export interface SentRequest {
  requestId: Hex;
  txHash: Hex;
  blockNumber: number;
  inputHash: Hex;
  fee: bigint;
  tier: Tier;
  deadline: number;
  /** Where the input was uploaded, when it was not sent inline. */
  inputURI?: string;
  /** The fee token and amount, for a request paid in an ERC-20 token (`fee` is then its wei: the callback's gas). */
  token?: { address: string; amount: bigint };
}

/** What `fetchOutput` returns: the verified bytes of a final request's output. */
export interface FetchedOutput {
  requestId: Hex;
  outputHash: Hex;
  /** Whether the dApp's callback got the bytes (false: the hash only). */
  inline: boolean;
  /** Where the bytes were fetched: `<blob store>/blobs/<outputHash>`. */
  uri: string;
  bytes: Uint8Array;
}

export type Stage = "requested" | "submitted" | "challenged" | "final" | "refunded";

export interface Progress {
  stage: Stage;
  requestId: Hex;
  /** Present from "submitted" on. */
  outputHash?: Hex;
  worker?: string;
  /** OPTIMISTIC tier: unix time the challenge window closes. */
  challengeDeadline?: number;
  txHash?: Hex;
}

export interface RequestOutcome extends Progress {
  status: RequestStatus;
  /** For "final": whether the requester's callback ran without reverting (false too when it had no gas). */
  callbackSucceeded?: boolean;
  /** (final) Whether the output bytes were delivered inline (RequestFulfilled.outputDelivered); false: hash only. */
  outputDelivered?: boolean;
  /** For "refunded". */
  refundReason?: RefundReason;
  /** For "requested", once a staked worker rejected it: how many distinct workers did, and how many
   * refund it. Below the quorum the request stays open; its requester may `cancelRequest` it. */
  rejections?: { count: number; quorum: number };
}

export interface WaitOptions {
  /** Stop at "submitted" (the result is on chain) or "final" (default: paid out, no longer challengeable). */
  until?: "submitted" | "final";
  /** Default 120 s; TIMEOUT after it. */
  timeoutMs?: number;
  /** Called once per stage reached, in order. */
  onProgress?: (progress: Progress) => void;
  /** First block to search for the request's events (default: the request's block when known, else 0). */
  fromBlock?: number;
  signal?: AbortSignal;
}

