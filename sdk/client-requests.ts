/** OracleClient's (client.ts) requests: sending them (inline or uploaded inputs, ETH or ERC-20 fees), cancelling, uploading. */
import { Contract, getAddress, type ContractRunner, type Signer } from "ethers";
import { IOracleTokenFees__factory, type IInferenceOracle, type IModelRegistry } from "../protocol/contracts.js";
import { encodePermit, signPermit } from "../protocol/permit.js";
import { Tier, type Hex } from "../protocol/types.js";
import { chainError, OracleSdkError } from "./errors.js";
import { checkHash } from "./client-checks.js";
import { BlobClient } from "../protocol/blob-client.js";
import type { RequestOptions, SentRequest } from "./client-types.js";

import { OracleClientModels } from "./client-models.js";

/** Longest one try of an input upload may take (a 64 MiB input over a slow link). */
const UPLOAD_TIMEOUT_MS = 300_000;

export abstract class OracleClientRequests extends OracleClientModels {
  /** Sends requestInference with the fee; returns the request id from the InferenceRequested event. */
  async request(options: RequestOptions): Promise<SentRequest> {
    const tier = options.tier ?? Tier.NONE;
    const model = await this.model(options.modelHash);
    if (!model.active) throw new OracleSdkError("MODEL_INACTIVE", `model ${model.modelHash} is inactive`, { details: { modelHash: model.modelHash } });
    if (!model.tiers.includes(tier)) {
      throw new OracleSdkError("TIER_UNSUPPORTED", `model ${model.modelHash} does not offer the ${Tier[tier]} tier (it offers ${model.tiers.map((t) => Tier[t]).join(", ")})`, {
        details: { modelHash: model.modelHash, tier: Tier[tier], offered: model.tiers.map((t) => Tier[t]) },
      });
    }
    const quote = await this.quote(model.modelHash, options.callbackGasLimit ?? 0);
    const token = options.token === undefined ? undefined : await this.tokenFee(model.modelHash, options.token);
    const fee = options.fee ?? (token === undefined ? quote.minimum : quote.callbackFee);
    if (token !== undefined && fee < quote.callbackFee) {
      throw new OracleSdkError("FEE_TOO_LOW", `a token request pays its callback's gas in wei: ${fee} wei is below ${quote.callbackFee}`, {
        details: { fee: fee.toString(), minimum: quote.callbackFee.toString() },
      });
    }
    if (token === undefined && fee < quote.minimum) {
      throw new OracleSdkError("FEE_TOO_LOW", `a fee of ${fee} wei is below the minimum ${quote.minimum} wei (model ${quote.ownerFee} + worker ${quote.minWorkerFee} + callback gas ${quote.callbackFee})`, {
        details: { fee: fee.toString(), minimum: quote.minimum.toString() },
      });
    }
    if ((options.input === undefined) === (options.inputs === undefined)) {
      throw new OracleSdkError("INPUT_INVALID", "give the request exactly one of `input` (a tensor) and `inputs` (tensors by name)");
    }
    const { bytes, inputHash } = options.inputs !== undefined ? await this.encodeInputs(model.modelHash, options.inputs) : await this.encodeInput(model.modelHash, options.input!);
    let params: Awaited<ReturnType<IInferenceOracle["params"]>>;
    let now: number;
    try {
      params = await this.oracle.params();
      now = (await this.provider.getBlock("latest"))!.timestamp;
    } catch (error) {
      throw chainError("reading the oracle's parameters", error);
    }
    let inputURI = "";
    let inline: Uint8Array = bytes;
    if (options.upload === true || bytes.byteLength > Number(params.maxInlineInputBytes)) {
      inputURI = await this.upload(bytes, inputHash);
      inline = new Uint8Array(0);
    }
    const deadline = now + (options.deadlineSeconds ?? 3600);
    try {
      const requestParams = { modelHash: model.modelHash, inputHash, input: inline, inputURI, tier, callbackGasLimit: options.callbackGasLimit ?? 0, deadline, maxInlineOutput: options.maxInlineOutput ?? 0 };
      const tx = token === undefined
        ? await this.oracle.requestInference(requestParams, { value: fee })
        : await IOracleTokenFees__factory.connect(await this.oracle.getAddress(), this.runner as ContractRunner).requestInferenceWithToken(
          requestParams, token.address, token.amount, await this.tokenPayment(token, BigInt(deadline)), { value: fee },
        );
      const receipt = await tx.wait();
      if (receipt === null || receipt.status !== 1) throw new OracleSdkError("TX_REVERTED", `requestInference ${tx.hash} failed`);
      for (const log of receipt.logs) {
        let parsed;
        try {
          parsed = this.oracle.interface.parseLog(log);
        } catch {
          continue;
        }
        if (parsed?.name === "InferenceRequested") {
          const requestId = parsed.args.requestId as Hex;
          this.requestBlocks.set(requestId.toLowerCase(), receipt.blockNumber);
          return {
            requestId, txHash: tx.hash as Hex, blockNumber: receipt.blockNumber, inputHash, fee, tier, deadline,
            ...(inputURI === "" ? {} : { inputURI }),
            ...(token === undefined ? {} : { token: { address: token.address, amount: token.amount } }),
          };
        }
      }
      throw new OracleSdkError("TX_REVERTED", `requestInference ${tx.hash} emitted no InferenceRequested event`);
    } catch (error) {
      throw chainError("requestInference", error);
    }
  }

  /** Checks the model accepts the token and the amount covers its terms; the amount defaults to them. */
  private async tokenFee(modelHash: Hex, t: NonNullable<RequestOptions["token"]>): Promise<{ address: string; amount: bigint; permit: boolean }> {
    let address: string;
    try {
      address = getAddress(t.address);
    } catch {
      throw new OracleSdkError("CONFIG_INVALID", `token ${JSON.stringify(t.address)} is not an address`);
    }
    let terms: Awaited<ReturnType<IModelRegistry["tokenTerms"]>>;
    try {
      terms = await this.registry.tokenTerms(modelHash, address);
    } catch (error) {
      throw chainError("reading the model's token terms", error);
    }
    if (!terms.accepted) {
      throw new OracleSdkError("FEE_TOO_LOW", `model ${modelHash} does not accept token ${address} for its fee`, { details: { modelHash, token: address } });
    }
    const minimum = terms.ownerFee + terms.minWorkerFee;
    const amount = t.amount ?? minimum;
    if (amount < minimum) {
      throw new OracleSdkError("FEE_TOO_LOW", `a fee of ${amount} of token ${address} is below the model's minimum ${minimum} (owner ${terms.ownerFee} + worker ${terms.minWorkerFee})`, {
        details: { fee: amount.toString(), minimum: minimum.toString(), token: address },
      });
    }
    return { address, amount, permit: t.permit ?? true };
  }

  /** The encoded permit for a token request (signed by the runner), or "0x" after approving the oracle. */
  private async tokenPayment(t: { address: string; amount: bigint; permit: boolean }, deadline: bigint): Promise<string> {
    const signer = this.runner as Signer;
    if (typeof signer.signTypedData !== "function") throw new OracleSdkError("CONFIG_INVALID", "a token request needs a signer");
    const oracle = await this.oracle.getAddress();
    if (t.permit) return encodePermit(await signPermit(signer, t.address, oracle, t.amount, deadline));
    const erc20 = new Contract(t.address, ["function allowance(address,address) view returns (uint256)", "function approve(address,uint256) returns (bool)"], signer);
    const owner = await signer.getAddress();
    if ((await erc20.getFunction("allowance")(owner, oracle)) < t.amount) {
      const tx = await erc20.getFunction("approve")(oracle, t.amount);
      await tx.wait();
    }
    return "0x";
  }

  /** The caller's pull balance in `token` at the oracle (payouts and claimed refunds of token requests). */
  async tokenBalance(token: string, account?: string): Promise<bigint> {
    const who = account ?? (await (this.runner as Signer).getAddress());
    return IOracleTokenFees__factory.connect(await this.oracle.getAddress(), this.runner as ContractRunner).tokenBalanceOf(who, getAddress(token));
  }

  /**
   * Takes back an open request that at least one staked worker rejected (docs/V2.md §4: a lone
   * rejection does not refund; the request stays open until `rejectionQuorum` workers reject it, its
   * deadline passes, or its requester cancels it). Only the requester may; TX_REVERTED with
   * `OracleNotRequester` or `OracleNotRejected` otherwise. Resolves with the refunded amount.
   */
  async cancelRequest(requestId: string): Promise<{ txHash: Hex; refunded: bigint }> {
    const id = checkHash(requestId);
    try {
      const tx = await this.oracle.cancelRequest(id);
      const receipt = await tx.wait();
      if (receipt === null || receipt.status !== 1) throw new OracleSdkError("TX_REVERTED", `cancelRequest ${tx.hash} failed`);
      for (const log of receipt.logs) {
        let parsed;
        try {
          parsed = this.oracle.interface.parseLog(log);
        } catch {
          continue;
        }
        if (parsed?.name === "RequestRefunded") return { txHash: tx.hash as Hex, refunded: parsed.args.amount as bigint };
      }
      throw new OracleSdkError("TX_REVERTED", `cancelRequest ${tx.hash} emitted no RequestRefunded event`);
    } catch (error) {
      throw chainError("cancelRequest", error);
    }
  }

  /**
   * Uploads canonical input bytes to the relayer's blob store (protocol/blob-client.ts: checked against
   * `inputHash` first, retried while the store is busy); returns the URI the relayer answered, which must
   * name the very blob uploaded: it goes on-chain (a relayer that answers with another URI would make the
   * request point at bytes the requester never chose).
   */
  async upload(bytes: Uint8Array, inputHash: Hex): Promise<string> {
    if (this.relayerUrl === undefined) {
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `the input (${bytes.byteLength} bytes) is larger than the oracle takes inline; give a relayerUrl to upload it to`);
    }
    try {
      return (await new BlobClient({ storeUrl: this.relayerUrl, timeoutMs: UPLOAD_TIMEOUT_MS }).upload(bytes, { hash: inputHash })).uri;
    } catch (error) {
      const e = error as Error & { code?: string; details?: Record<string, unknown> };
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `uploading the input to ${this.relayerUrl} failed: ${e.message}`, {
        cause: error,
        details: { ...(e.code === undefined ? {} : { code: e.code }), ...(e.details?.status === undefined ? {} : { status: e.details.status }) },
      });
    }
  }
}
