/**
 * Chained requests (contracts/chained/ChainedInference.sol): the output of model A becomes the
 * input of model B in one request. This module prices a chain's steps, requests it, follows its status and
 * advances it: the oracle is nonReentrant, so a step's result callback only records the output hash and
 * anyone then calls `advance(chainId, output)` with the output bytes, which this module reads back from the
 * transaction that delivered them (a submitBatch, settle or settleMany of the oracle) or, for an output
 * delivered as hash only, leaves to the next worker to fetch by hash from the blob store.
 *
 * A chain may be paid in an ERC-20 token its models accept (`token` in requestChain; ChainedInference's
 * requestChainWith): the steps' fees are then token amounts (chainTokenStepFees) and a wei escrow pays the
 * steps' callbacks (chainCallbackEscrow); refunds are credited in the token (`tokenBalanceOf`, `withdrawToken`).
 */
import { Interface, ZeroAddress, type ContractRunner, type Signer, type Provider, type TransactionReceipt } from "ethers";
import { hashEncoded, type Tensor } from "../protocol/tensor.js";
import { IInferenceOracle__factory } from "../protocol/contracts.js";
import { unpackItems } from "../protocol/batch-wire.js";
import { BlobClient } from "../protocol/blob-client.js";
import { DEFAULT_MAX_OUTPUT_BYTES } from "./client-types.js";
import { ChainedInference__factory, type ChainedInference } from "../types/ethers-contracts/index.js";
import { channel, resizeChannel, type RgbImage } from "./inputs.js";
import { OracleSdkError } from "./errors.js";
import { callbackGasPrice, permitDeadline, tokenPermitOrApprove, type TokenPayment } from "./token-pay.js";

export { ChainedInference__factory, type ChainedInference };

/** ChainedInference.ChainStatus. */
export enum ChainStatus {
  None = 0,
  Running = 1,
  Ready = 2,
  Completed = 3,
  Ended = 4,
}

/** ChainedInference.EndReason. */
export enum ChainEndReason {
  StepRefunded = 0,
  DeadlinePassed = 1,
  StepRequestFailed = 2,
  CallbackLost = 3,
}

export interface ChainStepSpec {
  modelHash: string;
  tier: number;
}

export interface ChainState {
  chainId: bigint;
  requester: string;
  status: ChainStatus;
  /** The step now running (or Ready: delivered, waiting for `advance`). */
  current: number;
  stepCount: number;
  deadline: bigint;
  /** Fees of the steps not requested yet. */
  escrow: bigint;
  /** The current step's request id at the oracle. */
  requestId: string;
  /** The last recorded step output's tensor hash (the chain's result once Completed). */
  outputHash: string;
  outputInline: boolean;
  callbackSucceeded: boolean;
  requestIds: string[];
  /** A token chain's fee token (`escrow` is then in it) and the wei left for its later steps' callbacks. */
  token?: { address: string; callbackEscrow: bigint };
}

export function chainedContract(address: string, runner: ContractRunner): ChainedInference {
  return ChainedInference__factory.connect(address, runner);
}

/** A chain's state as the contract holds it. */
export async function chainStatus(chained: ChainedInference, chainId: bigint): Promise<ChainState> {
  const v = await chained.getChain(chainId);
  if (Number(v.status) === ChainStatus.None) throw new OracleSdkError("REQUEST_NOT_FOUND", `chain ${chainId} does not exist`);
  return {
    chainId,
    requester: v.requester,
    status: Number(v.status) as ChainStatus,
    current: Number(v.current),
    stepCount: Number(v.stepCount),
    deadline: v.deadline,
    escrow: v.escrow,
    requestId: v.requestId,
    outputHash: v.outputHash,
    outputInline: v.outputInline,
    callbackSucceeded: v.callbackSucceeded,
    requestIds: [...v.requestIds],
    ...(v.token === ZeroAddress ? {} : { token: { address: v.token, callbackEscrow: v.callbackEscrow } }),
  };
}

/**
 * The least fee of each step as the oracle will price it (model fee + minimum worker fee + the step's
 * callback gas at max(basefee, minGasPrice)), times `gasMargin` on the gas part (a later step is priced at
 * the gas price of the time it is requested), plus `tip` for the worker.
 */
export async function chainStepFees(
  chained: ChainedInference,
  steps: ChainStepSpec[],
  options: { consumerGas?: number; gasMargin?: bigint; tip?: bigint; provider?: Provider } = {},
): Promise<bigint[]> {
  const runner = chained.runner;
  const oracle = IInferenceOracle__factory.connect(await chained.oracle(), runner);
  const { IModelRegistry__factory } = await import("../protocol/contracts.js");
  const registry = IModelRegistry__factory.connect(await chained.registry(), runner);
  const params = await oracle.params();
  const provider = options.provider ?? runner?.provider ?? undefined;
  const basefee = provider === undefined || provider === null ? 0n : ((await provider.getBlock("latest"))?.baseFeePerGas ?? 0n);
  const gasPrice = basefee > params.minGasPrice ? basefee : params.minGasPrice;
  const margin = options.gasMargin ?? 2n;
  const fees: bigint[] = [];
  for (let i = 0; i < steps.length; i++) {
    const terms = await registry.terms(steps[i]!.modelHash);
    if (!terms.active) throw new OracleSdkError("MODEL_INACTIVE", `step ${i}: model ${steps[i]!.modelHash} is not active`);
    const gas = await chained.callbackGasOf(i, steps.length, options.consumerGas ?? 0);
    fees.push(terms.fee + params.minWorkerFee + gas * gasPrice * margin + (options.tip ?? 0n));
  }
  return fees;
}

export interface RequestChainOptions {
  steps: Array<ChainStepSpec & { fee: bigint }>;
  /** Step 0's input: a canonical tensor encoding sent inline, or { inputHash, inputURI } fetched by workers. */
  input: Uint8Array | { inputHash: string; inputURI: string };
  deadline: bigint;
  consumerGas?: number;
  /** Where intermediate outputs too large to inline are fetched (e.g. `${relayerUrl}/blobs/`). */
  blobBaseURI?: string;
  /** Pay the steps' fees (token amounts, see chainTokenStepFees) in this token; `callbackEscrow` wei pay the
   * callbacks (default chainCallbackEscrow). */
  token?: TokenPayment & { callbackEscrow?: bigint };
}

/** Each step's least fee in `token` (the model's owner fee + minimum worker fee in it) plus `tip`. */
export async function chainTokenStepFees(chained: ChainedInference, steps: ChainStepSpec[], token: string, options: { tip?: bigint } = {}): Promise<bigint[]> {
  const { IModelRegistry__factory } = await import("../protocol/contracts.js");
  const registry = IModelRegistry__factory.connect(await chained.registry(), chained.runner);
  const fees: bigint[] = [];
  for (let i = 0; i < steps.length; i++) {
    const t = await registry.tokenTerms(steps[i]!.modelHash, token);
    if (!t.accepted) throw new OracleSdkError("FEE_TOO_LOW", `step ${i}: model ${steps[i]!.modelHash} does not accept token ${token}`);
    fees.push(t.ownerFee + t.minWorkerFee + (options.tip ?? 0n));
  }
  return fees;
}

/** The wei a token chain of `n` steps escrows for its callbacks: their gas at today's callback price x `gasMargin` (default 2). */
export async function chainCallbackEscrow(chained: ChainedInference, n: number, options: { consumerGas?: number; gasMargin?: bigint } = {}): Promise<bigint> {
  const provider = chained.runner?.provider;
  if (provider === undefined || provider === null) throw new OracleSdkError("CONFIG_INVALID", "pricing a chain's callbacks needs a provider");
  const oracle = IInferenceOracle__factory.connect(await chained.oracle(), chained.runner);
  const price = await callbackGasPrice(provider, (await oracle.params()).minGasPrice);
  let gas = 0n;
  for (let i = 0; i < n; i++) gas += await chained.callbackGasOf(i, n, options.consumerGas ?? 0);
  return gas * price * (options.gasMargin ?? 2n);
}

/** Requests a chain (the caller pays the sum of the steps' fees); returns its id and the receipt. */
export async function requestChain(chained: ChainedInference, o: RequestChainOptions): Promise<{ chainId: bigint; receipt: TransactionReceipt }> {
  const inline = o.input instanceof Uint8Array;
  const req = {
    steps: o.steps.map((s) => ({ modelHash: s.modelHash, tier: s.tier, fee: s.fee })),
    inputHash: inline ? "0x" + "00".repeat(32) : (o.input as { inputHash: string }).inputHash,
    input: inline ? (o.input as Uint8Array) : "0x",
    inputURI: inline ? "" : (o.input as { inputURI: string }).inputURI,
    deadline: o.deadline,
    consumerGas: o.consumerGas ?? 0,
    blobBaseURI: o.blobBaseURI ?? "",
  };
  const total = o.steps.reduce((a, s) => a + s.fee, 0n);
  let tx;
  if (o.token === undefined) {
    tx = await chained.requestChain(req, { value: total });
  } else {
    const signer = chained.runner as Signer | null;
    if (signer === null || typeof signer.signTypedData !== "function" || signer.provider === null) {
      throw new OracleSdkError("CONFIG_INVALID", "a token chain needs a Signer with a provider");
    }
    const escrow = o.token.callbackEscrow ?? (await chainCallbackEscrow(chained, o.steps.length, { consumerGas: req.consumerGas }));
    const permit = await tokenPermitOrApprove(signer, o.token, await chained.getAddress(), total, await permitDeadline(signer.provider));
    tx = await chained.requestChainWith(req, o.token.address, permit, { value: escrow });
  }
  const receipt = (await tx.wait())!;
  const chainId = chainIdOf(chained, receipt);
  if (chainId === undefined) throw new OracleSdkError("TX_REVERTED", `transaction ${receipt.hash} requested no chain`);
  return { chainId, receipt };
}

/** The chain id a receipt requested (its ChainRequested event), if any. */
export function chainIdOf(chained: ChainedInference, receipt: TransactionReceipt): bigint | undefined {
  for (const log of receipt.logs) {
    try {
      const parsed = chained.interface.parseLog(log);
      if (parsed?.name === "ChainRequested") return parsed.args.chainId as bigint;
    } catch {
      /* another contract's log */
    }
  }
  return undefined;
}

const ORACLE = new Interface(IInferenceOracle__factory.abi);

/**
 * The output bytes the current (Ready) step of a chain was delivered with: read from the oracle call that
 * delivered it (submitBatch, settle, settleMany), else from `blobStoreUrl`/blobs/<hash>; checked against the
 * recorded hash. Empty bytes when it was delivered as hash only (the next step fetches it by hash).
 */
export async function readStepOutput(chained: ChainedInference, chainId: bigint, options: { blobStoreUrl?: string; fromBlock?: number; maxOutputBytes?: number } = {}): Promise<Uint8Array> {
  const state = await chainStatus(chained, chainId);
  if (state.status !== ChainStatus.Ready) throw new OracleSdkError("INPUT_INVALID", `chain ${chainId} is ${ChainStatus[state.status]}, not Ready`);
  if (!state.outputInline) return new Uint8Array();
  const provider = chained.runner?.provider;
  if (provider === undefined || provider === null) throw new OracleSdkError("CONFIG_INVALID", "the chain contract needs a provider");
  const logs = await chained.queryFilter(chained.filters.ChainStepDelivered(chainId, undefined, state.requestId), options.fromBlock ?? 0);
  for (const log of logs.reverse()) {
    const tx = await provider.getTransaction(log.transactionHash);
    const found = tx === null ? undefined : outputInCall(tx.data, state.requestId);
    if (found !== undefined && hashEncoded(found) === state.outputHash.toLowerCase()) return found;
  }
  if (options.blobStoreUrl !== undefined) {
    // The one blob client (protocol/blob-client.ts): capped, timed out, retried, checked against the hash.
    const stored = await new BlobClient({ storeUrl: options.blobStoreUrl }).download(state.outputHash, { maxBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES }).catch(() => undefined);
    if (stored !== undefined) return stored;
  }
  throw new OracleSdkError("OUTPUT_UNAVAILABLE", `the output of chain ${chainId} step ${state.current} (${state.outputHash}) was found neither in its delivery transaction nor in the blob store`);
}

function outputInCall(data: string, requestId: string): Uint8Array | undefined {
  let parsed;
  try {
    parsed = ORACLE.parseTransaction({ data });
  } catch {
    return undefined;
  }
  if (parsed === null) return undefined;
  const items: Array<{ requestId: string; output: string }> =
    parsed.name === "submitBatch" ? unpackItems(String(parsed.args[2])) : parsed.name === "settle" ? [parsed.args[0]] : parsed.name === "settleMany" ? [...parsed.args[0]] : [];
  const item = items.find((i) => i.requestId.toLowerCase() === requestId.toLowerCase() && i.output !== "0x");
  return item === undefined ? undefined : Buffer.from(item.output.slice(2), "hex");
}

/** Advances a Ready chain (anyone may): reads the step's output and requests the next step. */
export async function advanceChain(chained: ChainedInference, chainId: bigint, options: { blobStoreUrl?: string; fromBlock?: number } = {}): Promise<TransactionReceipt> {
  const output = await readStepOutput(chained, chainId, options);
  const tx = await chained.advance(chainId, output);
  return (await tx.wait())!;
}

/**
 * Follows a chain until it is Completed or Ended, advancing it whenever it is Ready (`advance`, default
 * true) and calling `onStatus` on every change. Returns the final state.
 */
export async function followChain(
  chained: ChainedInference,
  chainId: bigint,
  options: { advance?: boolean; pollMs?: number; timeoutMs?: number; blobStoreUrl?: string; fromBlock?: number; onStatus?: (s: ChainState) => void } = {},
): Promise<ChainState> {
  const end = Date.now() + (options.timeoutMs ?? 120_000);
  let last = "";
  for (;;) {
    const s = await chainStatus(chained, chainId);
    const key = `${s.status}/${s.current}`;
    if (key !== last) (last = key), options.onStatus?.(s);
    if (s.status === ChainStatus.Completed || s.status === ChainStatus.Ended) return s;
    if (s.status === ChainStatus.Ready && options.advance !== false) {
      try {
        await advanceChain(chained, chainId, options);
      } catch (error) {
        // Someone else (a relayer watching the contract) may have advanced it first.
        if ((await chainStatus(chained, chainId)).status === ChainStatus.Ready) throw error;
      }
      continue;
    }
    if (Date.now() > end) throw new OracleSdkError("TIMEOUT", `chain ${chainId} still ${ChainStatus[s.status]} at step ${s.current}`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
  }
}

/** The MNIST demo chain's input: a picture as float32 [1, 1, 28, 28], gray, ink high, in [0, 1]. */
export function mnistPicture(image: RgbImage): Tensor {
  const gray = channel(image, -1);
  const mean = gray.reduce((a, b) => a + b, 0) / gray.length;
  const ink = mean > 127 ? gray.map((v) => 255 - v) : gray;
  const small = resizeChannel(ink, image.width, image.height, 28, 28);
  return { dtype: "float32", shape: [1, 1, 28, 28], data: Float32Array.from(small, (v) => Math.min(1, Math.max(0, v / 255))) };
}
