/**
 * Answers challenges on OPTIMISTIC results of zk-capable models with a proof (ZkDisputeResolver).
 *
 * It watches the resolver's DisputeOpened events; for a model it has proving artifacts for, it
 * fetches the request's input (inline in the InferenceRequested event, or from its URI), proves
 * output = model(input) on the worker's prover threads and, if the proven output is the challenged
 * one, sends `answer(requestId, proof)`: the dispute ends for the worker and the challenger loses its
 * bond. If the proven output differs, the challenged result was wrong and nothing is sent (the
 * default ruling slashes the worker after the deadline).
 *
 * It lives in the worker (`Worker` options / worker main) rather than the relayer because the worker
 * holds the proving keys and the prover threads, and its operator's stake is what a challenge puts at
 * risk; the relayer stays a chain <-> queue bridge with no circuit artifacts. Anyone holding the
 * artifacts can run it: `answer` is permissionless, the proof is what counts.
 */
import { BlockPoller } from "./block-poller.js";
import { Contract, type Provider, type Signer } from "ethers";
import type { Logger } from "pino";
import {
  IModelRegistry__factory,
  OracleError,
  fetchBytes,
  type UriScheme,
  type AddressPolicy,
  createLogger,
  decodeHeader,
  hashEncoded,
} from "../protocol/index.js";
import { InferenceOracle__factory, ZkDisputeResolver__factory, type InferenceOracle, type ZkDisputeResolver } from "../types/ethers-contracts/index.js";
import type { ProverPool } from "./prover.js";

const ADAPTER_ABI = ["function OUTPUT_HEADER() view returns (bytes)", "function OUTPUT_BYTES() view returns (uint256)"];

export interface ChallengeAnswererOptions {
  provider: Provider;
  /** Pays for `answer` transactions. */
  signer: Signer;
  oracle: string;
  resolver: string;
  /** Proving artifacts per model (the worker's `zk` config). */
  zk: readonly { modelHash: string; wasm: string; zkey: string }[];
  prover: ProverPool;
  /** First block to scan (default: the latest at start). */
  startBlock?: number;
  pollIntervalMs?: number;
  /** URI schemes allowed for inputs that are not inline. */
  inputSchemes?: readonly UriScheme[];
  /** Which non-public addresses an input fetch may reach (protocol/netPolicy.ts); public only by default. */
  addressPolicy?: AddressPolicy;
  maxInputBytes?: number;
  logger?: Logger;
}

export type AnswerOutcome = "answered" | "output-differs" | "no-artifacts" | "failed";

export class ZkChallengeAnswerer extends BlockPoller {
  private readonly oracle: InferenceOracle;
  private readonly resolver: ZkDisputeResolver;
  private readonly log: Logger;
  /** Outcome per request id (lower case), for logs and tests. */
  readonly outcomes = new Map<string, AnswerOutcome>();

  constructor(private readonly o: ChallengeAnswererOptions) {
    super(o);
    this.oracle = InferenceOracle__factory.connect(o.oracle, o.provider);
    this.resolver = ZkDisputeResolver__factory.connect(o.resolver, o.signer);
    this.log = (o.logger ?? createLogger("worker")).child({ layer: "zk-answerer" });
  }

  async close(): Promise<void> {
    await this.stopPolling();
  }

  protected async scan(): Promise<void> {
    try {
      const latest = await this.o.provider.getBlockNumber();
      if (latest < this.next) return;
      const events = await this.resolver.queryFilter(this.resolver.filters.DisputeOpened(), this.next, latest);
      for (const ev of events) {
        const { requestId, modelHash, inputHash, outputHash } = ev.args;
        const outcome = await this.answer(String(requestId), String(modelHash), String(inputHash), String(outputHash)).catch((error: unknown) => {
          this.log.warn({ err: error, requestId }, "could not answer the challenge");
          return "failed" as const;
        });
        this.outcomes.set(String(requestId).toLowerCase(), outcome);
      }
      this.next = latest + 1;
    } catch (error) {
      this.log.warn({ err: error }, "scanning for challenges failed; retrying");
    }
  }

  private async answer(requestId: string, modelHash: string, inputHash: string, outputHash: string): Promise<AnswerOutcome> {
    const zk = this.o.zk.find((z) => z.modelHash.toLowerCase() === modelHash.toLowerCase());
    if (zk === undefined) return "no-artifacts";
    const input = await this.inputOf(requestId, inputHash);
    const header = decodeHeader(input);
    const registry = IModelRegistry__factory.connect(await this.resolver.registry(), this.o.provider);
    const adapter = new Contract((await registry.terms(modelHash)).zkVerifier, ADAPTER_ABI, this.o.provider);
    const outputHeader = Buffer.from((await adapter.getFunction("OUTPUT_HEADER")()).slice(2), "hex");
    const outputBytes = Number(await adapter.getFunction("OUTPUT_BYTES")());
    const proven = await this.o.prover.prove({ wasm: zk.wasm, zkey: zk.zkey, inputData: input.subarray(header.headerBytes), outputBytes });
    const provenHash = hashEncoded(Buffer.concat([outputHeader, Buffer.from(proven.outputData)]));
    if (provenHash.toLowerCase() !== outputHash.toLowerCase()) {
      this.log.warn({ requestId, challenged: outputHash, proven: provenHash }, "the challenged output is not the model's: not answering (the worker will be slashed by default)");
      return "output-differs";
    }
    const tx = await this.resolver.answer(requestId, proven.proof);
    await tx.wait();
    this.log.info({ requestId, tx: tx.hash, proveMs: Math.round(proven.ms) }, "challenge answered with a proof");
    return "answered";
  }

  /** The request's input: inline from its InferenceRequested event, else fetched from its URI; hash-checked. */
  private async inputOf(requestId: string, inputHash: string): Promise<Buffer> {
    const [ev] = await this.oracle.queryFilter(this.oracle.filters.InferenceRequested(requestId));
    if (ev === undefined) throw new OracleError("REQUEST_NOT_FOUND", `no InferenceRequested event for ${requestId}`, { retryable: true });
    const inline = String(ev.args.input);
    const bytes = inline !== "0x"
      ? Buffer.from(inline.slice(2), "hex")
      : await fetchBytes(String(ev.args.inputURI), { maxBytes: this.o.maxInputBytes ?? 16 * 1024 * 1024, schemes: this.o.inputSchemes ?? ["http", "https"], ...(this.o.addressPolicy === undefined ? {} : { addressPolicy: this.o.addressPolicy }) });
    if (hashEncoded(bytes).toLowerCase() !== inputHash.toLowerCase()) {
      throw new OracleError("INPUT_HASH_MISMATCH", `the input of ${requestId} does not hash to ${inputHash}`);
    }
    return bytes;
  }
}
