/**
 * OracleClient: what a dApp's off-chain code (or a script) needs to use the oracle — read a model's
 * terms from the registry, quote the fee, encode and send an input (inline, or uploaded to a relayer's
 * blob store when it is larger than the oracle's inline limit), follow the request to finality and
 * fetch and verify its output.
 *
 *   const client = await OracleClient.connect({ oracle: "0x...", runner: wallet, relayerUrl: "http://127.0.0.1:9545" });
 *   const { requestId } = await client.request({ modelHash, input: tensor, tier: Tier.NONE });
 *   const result = await client.wait(requestId, { onProgress: (p) => console.log(p.stage) });
 *   const output = await client.output(result.outputHash);
 *
 * A model with several named inputs and outputs (a recurrent model's state, a sample-rate scalar):
 *
 *   const { requestId } = await client.request({ modelHash, inputs: { input: frame, state, sr } });
 *   const outputs = await client.outputs((await client.wait(requestId)).outputHash!, modelHash); // Map by name
 */
import { Contract, getAddress, keccak256, type ContractRunner, type Provider, type Signer } from "ethers";
import { loadManifest, parseManifest, type DeploymentManifest } from "../protocol/manifest.js";
import { IInferenceOracle__factory, IModelRegistry__factory, IOracleTokenFees__factory, type IInferenceOracle, type IModelRegistry } from "../protocol/contracts.js";
import { encodePermit, signPermit } from "../protocol/permit.js";
import { dtypeFromCode, encodeTensor, decodeTensor, type Tensor, type TensorSpec } from "../protocol/tensor.js";
import { decodeBundle, encodeBundleFor, hashBundleEncoded, bundleEntries } from "../protocol/bundle.js";
import { RefundReason, RequestStatus, Tier, type Hex } from "../protocol/types.js";
import { outputUri } from "../protocol/largeOutput.js";
import { chainError, OracleSdkError } from "./errors.js";
import { fitToSpec } from "./inputs.js";
import { strip, checkHash, decodeBundleChecked, decodeInput, isBlobUri } from "./client-checks.js";
import { DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_OUTPUT_TIMEOUT_MS, type FeeQuote, type FetchedOutput, type ModelDetails, type OracleClientOptions, type Progress, type RequestOptions, type RequestOutcome, type SentRequest, type Stage, type WaitOptions } from "./client-types.js";

export * from "./client-types.js";
export { isBlobUri } from "./client-checks.js";

const ORDER: Record<Stage, number> = { requested: 0, submitted: 1, challenged: 2, final: 3, refunded: 3 };

export class OracleClient {
  readonly oracle: IInferenceOracle;
  readonly registry: IModelRegistry;
  readonly provider: Provider;
  readonly relayerUrl: string | undefined;
  private readonly runner: Signer | Provider;
  private readonly pollIntervalMs: number;
  private readonly maxOutputBytes: number;
  private readonly outputTimeoutMs: number;
  private readonly requestBlocks = new Map<string, number>();

  private constructor(options: OracleClientOptions & { registry: string; provider: Provider }) {
    this.oracle = IInferenceOracle__factory.connect(options.oracle, options.runner as ContractRunner);
    this.registry = IModelRegistry__factory.connect(options.registry, options.runner as ContractRunner);
    this.provider = options.provider;
    this.runner = options.runner;
    this.relayerUrl = options.relayerUrl?.replace(/\/+$/, "");
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.outputTimeoutMs = options.outputTimeoutMs ?? DEFAULT_OUTPUT_TIMEOUT_MS;
  }

  static async connect(options: OracleClientOptions): Promise<OracleClient> {
    const provider = "provider" in options.runner && options.runner.provider !== null && options.runner.provider !== undefined
      ? (options.runner.provider as Provider)
      : (options.runner as Provider);
    if (typeof (provider as Provider).getBlockNumber !== "function") throw new OracleSdkError("CONFIG_INVALID", "the signer is not connected to a provider");
    let oracle: string;
    try {
      oracle = getAddress(options.oracle);
    } catch {
      throw new OracleSdkError("CONFIG_INVALID", `oracle address ${JSON.stringify(options.oracle)} is not an address`);
    }
    let registry = options.registry;
    if (registry === undefined) {
      try {
        if ((await provider.getCode(oracle)) === "0x") throw new OracleSdkError("CONFIG_INVALID", `no contract at oracle address ${oracle}`);
        registry = await IInferenceOracle__factory.connect(oracle, provider).registry();
      } catch (error) {
        throw chainError("reading the oracle's registry", error);
      }
    }
    return new OracleClient({ ...options, oracle, registry, provider });
  }

  /**
   * A client for the deployment a manifest (protocol/manifest.ts, written by `oracle deploy`) records for the
   * runner's chain: `manifest` is the manifest itself or a folder of `<chainId>.json` files (`deployments/`).
   * CONFIG_INVALID when there is none for the chain, when it is for another chain, or when the oracle's code on
   * chain is not the code the manifest records (a wrong or tampered manifest never names a contract to pay).
   */
  static async fromManifest(options: Omit<OracleClientOptions, "oracle" | "registry"> & { manifest: DeploymentManifest | string }): Promise<OracleClient> {
    const provider = "provider" in options.runner && options.runner.provider !== null && options.runner.provider !== undefined
      ? (options.runner.provider as Provider)
      : (options.runner as Provider);
    if (typeof (provider as Provider).getBlockNumber !== "function") throw new OracleSdkError("CONFIG_INVALID", "the signer is not connected to a provider");
    let chainId: bigint;
    try {
      chainId = (await provider.getNetwork()).chainId;
    } catch (error) {
      throw chainError("reading the chain id", error);
    }
    let manifest: DeploymentManifest | undefined;
    try {
      manifest = typeof options.manifest === "string" ? await loadManifest(options.manifest, chainId) : parseManifest(options.manifest, "given");
    } catch (error) {
      throw new OracleSdkError("CONFIG_INVALID", (error as Error).message, { cause: error });
    }
    if (manifest === undefined) throw new OracleSdkError("CONFIG_INVALID", `no deployment manifest for chain ${chainId} in ${String(options.manifest)}`, { details: { chainId: chainId.toString() } });
    if (manifest.chainId !== chainId.toString()) throw new OracleSdkError("CONFIG_INVALID", `the manifest is for chain ${manifest.chainId}, the provider serves chain ${chainId}`);
    const recorded = Object.values(manifest.contracts).find((c) => c.address.toLowerCase() === manifest.oracle.toLowerCase());
    let code: string;
    try {
      code = await provider.getCode(manifest.oracle);
    } catch (error) {
      throw chainError("reading the oracle's code", error);
    }
    if (code === "0x" || (recorded !== undefined && keccak256(code) !== recorded.codeHash.toLowerCase())) {
      throw new OracleSdkError("CONFIG_INVALID", `the oracle ${manifest.oracle} on chain ${chainId} is not the contract the manifest records (${code === "0x" ? "no code" : "its code hash differs"})`, { details: { oracle: manifest.oracle } });
    }
    return OracleClient.connect({ ...options, oracle: manifest.oracle, registry: manifest.registry });
  }

  /** The model's on-chain terms and specs. MODEL_NOT_FOUND when unregistered. */
  async model(modelHash: string): Promise<ModelDetails> {
    const hash = checkHash(modelHash);
    let info: Awaited<ReturnType<IModelRegistry["model"]>>;
    let io: Awaited<ReturnType<IModelRegistry["modelIO"]>>;
    try {
      if (!(await this.registry.isRegistered(hash))) throw new OracleSdkError("MODEL_NOT_FOUND", `model ${hash} is not registered`, { details: { modelHash: hash } });
      [info, io] = await Promise.all([this.registry.model(hash), this.registry.modelIO(hash)]);
    } catch (error) {
      throw chainError("reading the model", error);
    }
    const spec = (s: { dtype: bigint; shape: bigint[] }, what: string): TensorSpec => {
      const dtype = dtypeFromCode(Number(s.dtype));
      if (dtype === undefined) throw new OracleSdkError("MODEL_NOT_FOUND", `model ${hash} declares an unknown ${what} dtype code ${s.dtype}`);
      return { dtype, shape: s.shape.map(Number) };
    };
    const mask = Number(info.tiers);
    return {
      modelHash: hash,
      owner: info.owner,
      fee: info.fee,
      tiers: [Tier.NONE, Tier.OPTIMISTIC, Tier.ZK].filter((t) => (mask >> t) & 1),
      active: info.active,
      resolver: info.resolver,
      zkVerifier: info.zkVerifier,
      commitmentRoot: info.commitmentRoot as Hex,
      input: spec(info.input, "input"),
      output: spec(info.output, "output"),
      inputs: io[0].map((s) => ({ name: s.name, ...spec(s, `input ${s.name}`) })),
      outputs: io[1].map((s) => ({ name: s.name, ...spec(s, `output ${s.name}`) })),
      uris: [...info.uris],
    };
  }

  /** The fee a request for this model needs at least (model owner's fee + the oracle's minimum worker
   * fee + the callback's gas, which is paid to whoever executes the callback). */
  async quote(modelHash: string, callbackGasLimit = 0): Promise<FeeQuote> {
    const model = await this.model(modelHash);
    let params: Awaited<ReturnType<IInferenceOracle["params"]>>;
    let baseFee: bigint;
    try {
      params = await this.oracle.params();
      baseFee = ((await this.provider.getBlock("latest"))?.baseFeePerGas ?? 0n) * 5n / 4n;
    } catch (error) {
      throw chainError("reading the oracle's parameters", error);
    }
    const price = baseFee > params.minGasPrice ? baseFee : params.minGasPrice;
    const callbackFee = BigInt(callbackGasLimit) * price;
    return { ownerFee: model.fee, minWorkerFee: params.minWorkerFee, callbackFee, minimum: model.fee + params.minWorkerFee + callbackFee };
  }

  /** Encodes an input for the model (fitted to its spec); returns the bytes and their tensor hash. */
  async encodeInput(modelHash: string, input: Tensor | Uint8Array): Promise<{ bytes: Uint8Array; inputHash: Hex; tensor: Tensor }> {
    const model = await this.model(modelHash);
    if (model.inputs.length > 1) {
      if (!(input instanceof Uint8Array)) {
        throw new OracleSdkError("INPUT_INVALID", `model ${model.modelHash} has ${model.inputs.length} inputs (${model.inputs.map((s) => s.name).join(", ")}): give them by name (inputs: { name: tensor })`, {
          details: { inputs: model.inputs.map((s) => s.name) },
        });
      }
      const { bytes, inputHash } = await this.encodeInputs(model.modelHash, Object.fromEntries(decodeBundleChecked(input, model.inputs)));
      return { bytes, inputHash, tensor: decodeTensor(bundleEntries(bytes)[0]!.encoded) };
    }
    const tensor = fitToSpec(input instanceof Uint8Array ? decodeInput(input) : input, model.input);
    const bytes = encodeTensor(tensor);
    return { bytes, inputHash: hashBundleEncoded(bytes) as Hex, tensor };
  }

  /**
   * Encodes inputs by name for the model: each fitted to its named spec, then one bundle (a bare tensor
   * for a one-input model). INPUT_INVALID names a missing, unexpected or misnamed input, or the input
   * whose dtype or shape does not fit.
   */
  async encodeInputs(modelHash: string, inputs: Record<string, Tensor>): Promise<{ bytes: Uint8Array; inputHash: Hex; tensors: Map<string, Tensor> }> {
    const model = await this.model(modelHash);
    const specs = model.inputs;
    const given = Object.keys(inputs);
    // One input: its name is optional (a model registered without names has the name "").
    const byName = specs.length === 1 && given.length === 1 ? { [specs[0]!.name]: inputs[given[0]!]! } : inputs;
    if (specs.length === 1 && given.length === 1 && specs[0]!.name !== "" && given[0] !== specs[0]!.name) {
      throw new OracleSdkError("INPUT_INVALID", `model ${model.modelHash} has one input, "${specs[0]!.name}"; got "${given[0]}"`, { details: { expected: [specs[0]!.name], actual: given } });
    }
    const names = specs.map((s) => s.name);
    const missing = names.filter((n) => !(n in byName));
    const unexpected = Object.keys(byName).filter((n) => !names.includes(n));
    if (missing.length > 0 || unexpected.length > 0) {
      const parts = [
        ...(unexpected.length > 0 ? [`unexpected input${unexpected.length > 1 ? "s" : ""} ${unexpected.map((n) => `"${n}"`).join(", ")}`] : []),
        ...(missing.length > 0 ? [`missing input${missing.length > 1 ? "s" : ""} ${missing.map((n) => `"${n}"`).join(", ")}`] : []),
      ];
      throw new OracleSdkError("INPUT_INVALID", `${parts.join("; ")}; model ${model.modelHash} takes ${names.map((n) => `"${n}"`).join(", ")}`, { details: { expected: names, missing, unexpected } });
    }
    const tensors = new Map(specs.map((spec) => [spec.name, fitToSpec(byName[spec.name]!, spec, `input "${spec.name}"`)]));
    const bytes = encodeBundleFor(tensors, specs);
    return { bytes, inputHash: hashBundleEncoded(bytes) as Hex, tensors };
  }

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
   * Takes back an open request that at least one staked worker rejected (issue 12, finding 3: a lone
   * rejection no longer refunds; the request stays open until `rejectionQuorum` workers reject it, its
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

  /** Uploads canonical input bytes to the relayer's blob store; returns their URI. */
  async upload(bytes: Uint8Array, inputHash: Hex): Promise<string> {
    if (this.relayerUrl === undefined) {
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `the input (${bytes.byteLength} bytes) is larger than the oracle takes inline; give a relayerUrl to upload it to`);
    }
    let res: Response;
    try {
      res = await fetch(`${this.relayerUrl}/blobs/${inputHash}`, { method: "PUT", body: new Uint8Array(bytes), headers: { "content-type": "application/octet-stream" } });
    } catch (error) {
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `uploading the input to ${this.relayerUrl} failed: ${(error as Error).message}`, { cause: error });
    }
    const body = (await res.json().catch(() => ({}))) as { uri?: string; error?: { code?: string; message?: string } };
    if (!res.ok || typeof body.uri !== "string") {
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `the relayer refused the input upload (HTTP ${res.status}): ${body.error?.message ?? "no URI returned"}`, {
        details: { status: res.status, error: body.error },
      });
    }
    // The URI goes on-chain: it must name the very blob just uploaded (a relayer that answers with
    // another URI would make the request point at bytes the requester never chose).
    if (!isBlobUri(body.uri, inputHash)) {
      throw new OracleSdkError("INPUT_UPLOAD_FAILED", `the relayer answered with a URI that does not name the uploaded input ${inputHash}`, {
        details: { uri: body.uri.slice(0, 256), inputHash },
      });
    }
    return body.uri;
  }

  /** Where a request is now, with the details of its latest event. */
  async status(requestId: string, fromBlock?: number): Promise<RequestOutcome> {
    const id = checkHash(requestId);
    let view: Awaited<ReturnType<IInferenceOracle["getRequest"]>>;
    try {
      view = await this.oracle.getRequest(id);
    } catch (error) {
      throw chainError("getRequest", error);
    }
    const status = Number(view.status) as RequestStatus;
    if (status === RequestStatus.None) throw new OracleSdkError("REQUEST_NOT_FOUND", `the oracle has no request ${id}`, { details: { requestId: id } });
    const from = fromBlock ?? this.requestBlocks.get(id.toLowerCase()) ?? 0;
    const out: RequestOutcome = { stage: "requested", requestId: id, status };
    const last = async (filter: ReturnType<IInferenceOracle["filters"]["ResultSubmitted"]> | ReturnType<IInferenceOracle["filters"]["RequestFulfilled"]> | ReturnType<IInferenceOracle["filters"]["RequestRefunded"]>) => {
      try {
        const logs = await this.oracle.queryFilter(filter as Parameters<IInferenceOracle["queryFilter"]>[0], from);
        return logs[logs.length - 1] as (typeof logs)[number] & { args: Record<string, unknown> } | undefined;
      } catch (error) {
        throw chainError("reading the oracle's events", error);
      }
    };
    if (status === RequestStatus.Requested) {
      let count: bigint, quorum: bigint;
      try {
        [count, quorum] = await this.oracle.rejections(id);
      } catch (error) {
        throw chainError("rejections", error);
      }
      if (count > 0n) out.rejections = { count: Number(count), quorum: Number(quorum) };
    }
    if (status >= RequestStatus.Submitted && status !== RequestStatus.Refunded) {
      const ev = await last(this.oracle.filters.ResultSubmitted(id));
      if (ev !== undefined) {
        out.outputHash = ev.args.outputHash as Hex;
        out.worker = ev.args.worker as string;
        out.txHash = ev.transactionHash as Hex;
        if (Number(view.tier) === Tier.OPTIMISTIC) out.challengeDeadline = Number(ev.args.challengeDeadline);
      }
      out.stage = status === RequestStatus.Challenged ? "challenged" : "submitted";
    }
    if (status === RequestStatus.Fulfilled) {
      const ev = await last(this.oracle.filters.RequestFulfilled(id));
      out.stage = "final";
      if (ev !== undefined) {
        out.outputHash = ev.args.outputHash as Hex;
        out.callbackSucceeded = ev.args.callbackSucceeded as boolean;
        out.outputDelivered = ev.args.outputDelivered as boolean;
        out.txHash = ev.transactionHash as Hex;
      }
    }
    if (status === RequestStatus.Refunded) {
      const ev = await last(this.oracle.filters.RequestRefunded(id));
      out.stage = "refunded";
      if (ev !== undefined) {
        out.refundReason = Number(ev.args.reason) as RefundReason;
        out.txHash = ev.transactionHash as Hex;
      }
    }
    return out;
  }

  /**
   * Follows a request until it reaches `until` (default "final"), reporting each stage once.
   * REQUEST_REFUNDED if it is refunded instead; TIMEOUT after `timeoutMs`.
   */
  async wait(requestId: string, options: WaitOptions = {}): Promise<RequestOutcome> {
    const until = options.until ?? "final";
    const timeoutMs = options.timeoutMs ?? 120_000;
    const end = Date.now() + timeoutMs;
    let reported = -1;
    for (;;) {
      options.signal?.throwIfAborted();
      const now = await this.status(requestId, options.fromBlock);
      if (ORDER[now.stage] > reported || (now.stage === "submitted" && reported === ORDER.challenged)) {
        // Stages skipped between two polls (NONE tier: requested -> final at once) are reported too.
        if (reported < ORDER.requested) options.onProgress?.({ stage: "requested", requestId: now.requestId });
        if (now.stage === "final" && reported < ORDER.submitted && now.outputHash !== undefined) {
          options.onProgress?.({ stage: "submitted", requestId: now.requestId, outputHash: now.outputHash });
        }
        if (now.stage !== "requested") options.onProgress?.(strip(now));
        reported = ORDER[now.stage];
      }
      if (now.stage === "refunded") {
        throw new OracleSdkError("REQUEST_REFUNDED", `request ${now.requestId} was refunded (${RefundReason[now.refundReason ?? 0] ?? now.refundReason})`, {
          details: { requestId: now.requestId, reason: now.refundReason === undefined ? undefined : RefundReason[now.refundReason] },
        });
      }
      if (now.stage === "final" || (until === "submitted" && now.stage !== "requested")) return now;
      if (Date.now() > end) {
        throw new OracleSdkError("TIMEOUT", `request ${now.requestId} is still ${now.stage} after ${timeoutMs} ms (waiting for ${until})`, {
          details: { requestId: now.requestId, stage: now.stage, until, timeoutMs, challengeDeadline: now.challengeDeadline },
        });
      }
      await new Promise((r) => setTimeout(r, this.pollIntervalMs));
    }
  }

  /** The output bytes for an output hash, from the relayer's blob store, checked against the hash. */
  async outputBytes(outputHash: string): Promise<Uint8Array> {
    const hash = checkHash(outputHash);
    if (this.relayerUrl === undefined) throw new OracleSdkError("OUTPUT_UNAVAILABLE", "no relayerUrl to fetch the output from");
    return OracleClient.checked(hash, await this.readOutput(hash));
  }

  /**
   * A final request's output, inline or not (docs/PROTOCOL.md "Large outputs"): its hash from the
   * RequestFulfilled event, whether the callback got the bytes (`inline`), and the bytes, fetched from
   * `<relayer>/blobs/<outputHash>` (content addressing: the URI follows from the hash) and checked against
   * the hash. `mirrors` are other blob stores tried in turn when the relayer does not have them (a worker
   * that withheld them: anyone who recomputed the canonical output can publish it, PUT /blobs/<hash>).
   * OUTPUT_HASH_MISMATCH when every source that answered served other bytes; OUTPUT_UNAVAILABLE when
   * none had them.
   */
  async fetchOutput(requestId: string, options: { mirrors?: string[] } = {}): Promise<FetchedOutput> {
    const now = await this.status(requestId);
    if (now.stage !== "final" || now.outputHash === undefined) {
      throw new OracleSdkError("OUTPUT_UNAVAILABLE", `request ${now.requestId} is ${now.stage}, not final: no output yet`, { details: { requestId: now.requestId, stage: now.stage } });
    }
    const outputHash = now.outputHash;
    const sources = [...(this.relayerUrl === undefined ? [] : [this.relayerUrl]), ...(options.mirrors ?? []).map((m) => m.replace(/\/+$/, ""))];
    if (sources.length === 0) throw new OracleSdkError("OUTPUT_UNAVAILABLE", "no relayerUrl or mirror to fetch the output from");
    let last: unknown;
    for (const base of sources) {
      try {
        const bytes = await OracleClient.checked(outputHash, await this.readOutput(outputHash, base));
        return { requestId: now.requestId, outputHash, inline: now.outputDelivered === true, uri: outputUri(base, outputHash), bytes };
      } catch (error) {
        // A mismatch wins over "not found" in the report: somebody served wrong bytes.
        if (!(last instanceof OracleSdkError && last.code === "OUTPUT_HASH_MISMATCH")) last = error;
      }
    }
    throw last;
  }

  private static checked(hash: Hex, bytes: Uint8Array): Uint8Array {
    let actual: string;
    try {
      actual = hashBundleEncoded(bytes);
    } catch (error) {
      throw new OracleSdkError("OUTPUT_HASH_MISMATCH", `the bytes served for output ${hash} are not a canonical tensor or bundle: ${(error as Error).message}`, { cause: error });
    }
    if (actual.toLowerCase() !== hash.toLowerCase()) {
      throw new OracleSdkError("OUTPUT_HASH_MISMATCH", `the bytes served for output ${hash} hash to ${actual}: refused`, { details: { expected: hash, actual } });
    }
    return bytes;
  }

  /** GETs an output with a timeout and a size cap checked while it streams (before any hash check). */
  private async readOutput(hash: Hex, base = this.relayerUrl): Promise<Uint8Array> {
    const max = this.maxOutputBytes;
    const signal = AbortSignal.timeout(this.outputTimeoutMs);
    const fail = (message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
      new OracleSdkError("OUTPUT_UNAVAILABLE", message, { details: { outputHash: hash, ...details }, ...(cause === undefined ? {} : { cause }) });
    try {
      const res = await fetch(outputUri(base!, hash), { signal });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`the relayer has no output ${hash} (HTTP ${res.status})`, { status: res.status });
      }
      const declared = Number(res.headers.get("content-length") ?? NaN);
      if (Number.isFinite(declared) && declared > max) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`output ${hash} is ${declared} bytes, more than maxOutputBytes (${max})`, { maxOutputBytes: max });
      }
      const chunks: Uint8Array[] = [];
      let total = 0;
      if (res.body !== null) {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > max) {
            await reader.cancel().catch(() => undefined);
            throw fail(`output ${hash} is more than maxOutputBytes (${max})`, { maxOutputBytes: max });
          }
          chunks.push(value);
        }
      }
      return Buffer.concat(chunks, total);
    } catch (error) {
      if (error instanceof OracleSdkError) throw error;
      if (signal.aborted) throw fail(`fetching output ${hash} took longer than ${this.outputTimeoutMs} ms`, { timeoutMs: this.outputTimeoutMs }, error);
      throw fail(`fetching output ${hash} failed: ${(error as Error).message}`, {}, error);
    }
  }

  /** The output tensor for an output hash (fetched and verified). A bundle's first output (by name order); see `outputs`. */
  async output(outputHash: string): Promise<Tensor> {
    return [...decodeBundle(await this.outputBytes(outputHash)).values()][0]!;
  }

  /**
   * Every output by name (fetched and verified): a model with several outputs returns a bundle. With
   * `modelHash`, checked against the model's named output specs, and a one-output model's tensor named
   * after its output; without, a bare tensor is named "".
   */
  async outputs(outputHash: string, modelHash?: string): Promise<Map<string, Tensor>> {
    const bytes = await this.outputBytes(outputHash);
    return this.decodeOutputs(bytes, modelHash);
  }

  /** Decodes output bytes (a dApp's callback `output`, a blob) by name; checked against the model's specs with `modelHash`. */
  async decodeOutputs(bytes: Uint8Array, modelHash?: string): Promise<Map<string, Tensor>> {
    if (modelHash === undefined) return decodeBundle(bytes);
    const model = await this.model(modelHash);
    return decodeBundleChecked(bytes, model.outputs, "output");
  }
}
