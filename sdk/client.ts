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
import { getAddress, keccak256, type Provider } from "ethers";
import { loadManifest, parseManifest, type DeploymentManifest } from "../protocol/manifest.js";
import { IInferenceOracle__factory, type IInferenceOracle } from "../protocol/contracts.js";
import type { Tensor } from "../protocol/tensor.js";
import { decodeBundle } from "../protocol/bundle.js";
import { RefundReason, RequestStatus, Tier, type Hex } from "../protocol/types.js";
import { BlobClient, blobUrl } from "../protocol/blob-client.js";
import { isError } from "../protocol/errors.js";
import { querySubmitted } from "../protocol/batch-wire.js";
import { chainError, OracleSdkError } from "./errors.js";
import { strip, checkHash, decodeBundleChecked } from "./client-checks.js";
import { OracleClientRequests } from "./client-requests.js";
import type { FetchedOutput, OracleClientOptions, RequestOutcome, Stage, WaitOptions } from "./client-types.js";

export * from "./client-types.js";
export { isBlobUri } from "../protocol/blob-client.js";

const ORDER: Record<Stage, number> = { requested: 0, submitted: 1, challenged: 2, final: 3, refunded: 3 };

/** Built in layers: models, quotes and inputs (client-models.ts), requests (client-requests.ts), then progress and outputs here. */
export class OracleClient extends OracleClientRequests {
  private constructor(options: OracleClientOptions & { registry: string; provider: Provider }) {
    super(options);
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
    const last = async (filter: ReturnType<IInferenceOracle["filters"]["RequestFulfilled"]> | ReturnType<IInferenceOracle["filters"]["RequestRefunded"]>) => {
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
      let results;
      try {
        results = await querySubmitted(this.provider, await this.oracle.getAddress(), { fromBlock: from, requestId: id });
      } catch (error) {
        throw chainError("reading the oracle's events", error);
      }
      const ev = results[results.length - 1];
      if (ev !== undefined) {
        out.outputHash = ev.outputHash;
        out.worker = ev.worker;
        if (ev.transactionHash !== undefined) out.txHash = ev.transactionHash as Hex;
        if (Number(view.tier) === Tier.OPTIMISTIC) out.challengeDeadline = ev.time;
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
    return this.readOutput(hash, this.relayerUrl);
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
        const bytes = await this.readOutput(outputHash, base);
        return { requestId: now.requestId, outputHash, inline: now.outputDelivered === true, uri: blobUrl(base, outputHash), bytes };
      } catch (error) {
        // A mismatch wins over "not found" in the report: somebody served wrong bytes.
        if (!(last instanceof OracleSdkError && last.code === "OUTPUT_HASH_MISMATCH")) last = error;
      }
    }
    throw last;
  }

  /**
   * An output from the blob store at `base` through the one blob client (protocol/blob-client.ts): within
   * outputTimeoutMs, at most maxOutputBytes (declared or streamed, before any hash check), checked against its hash.
   */
  private async readOutput(hash: Hex, base: string): Promise<Uint8Array> {
    const max = this.maxOutputBytes;
    const fail = (message: string, details: Record<string, unknown>, cause: unknown) => new OracleSdkError("OUTPUT_UNAVAILABLE", message, { details: { outputHash: hash, ...details }, cause });
    try {
      return await new BlobClient({ storeUrl: base, timeoutMs: this.outputTimeoutMs }).download(hash, { maxBytes: max, until: Date.now() + this.outputTimeoutMs });
    } catch (error) {
      if (!isError(error)) throw fail(`fetching output ${hash} failed: ${(error as Error).message}`, {}, error);
      const d = error.details;
      switch (error.code) {
        case "BLOB_HASH_MISMATCH":
          throw new OracleSdkError("OUTPUT_HASH_MISMATCH", `the bytes served for output ${hash} ${d.actual === undefined ? "are not a canonical tensor or bundle" : `hash to ${String(d.actual)}`}: refused`, { details: { expected: hash, ...(d.actual === undefined ? {} : { actual: d.actual }) }, cause: error });
        case "PAYLOAD_TOO_LARGE":
          throw fail(`output ${hash} is ${d.size === undefined ? "" : `${String(d.size)} bytes, `}more than maxOutputBytes (${max})`, { maxOutputBytes: max }, error);
        case "TIMEOUT":
          throw fail(`fetching output ${hash} took longer than ${this.outputTimeoutMs} ms`, { timeoutMs: this.outputTimeoutMs }, error);
        default:
          if (typeof d.status === "number") throw fail(`the relayer has no output ${hash} (HTTP ${d.status})`, { status: d.status }, error);
          throw fail(`fetching output ${hash} failed: ${error.message}`, {}, error);
      }
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
