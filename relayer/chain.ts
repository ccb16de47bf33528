/**
 * The relayer's view of the chain: typed oracle binding, chain time, and one serialized
 * transaction sender that retries transient failures and decodes reverts. Its nonces come from the
 * TransactionManager (tx-manager.ts): tracked in the database, healed when dropped, bumped when stuck.
 */
import {
  AbstractSigner,
  type ContractTransaction,
  type ContractTransactionResponse,
  type Provider,
  type Signer,
  type TransactionReceipt,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import { OracleError, errorChain, IInferenceOracle__factory, isError, type IInferenceOracle, type Logger } from "../protocol/index.js";
import { retry } from "../protocol/retry.js";
import type { RelayerDb } from "./db.js";
import { TransactionManager, type FeePolicy } from "./tx-manager.js";

export interface TxRecord {
  label: string;
  hash: string;
  gasUsed: bigint;
  items: number;
  at: number;
}

/**
 * A signer whose sendTransaction goes through the nonce manager, so that any call made on
 * `chain.oracle` (`chain.oracle.settleMany(...)`) gets a tracked nonce and managed fees.
 */
class ManagedSigner extends AbstractSigner {
  label = "call";
  constructor(
    private readonly inner: Signer,
    private readonly nonces: TransactionManager,
  ) {
    super(inner.provider);
  }
  getAddress(): Promise<string> {
    return this.inner.getAddress();
  }
  connect(): Signer {
    return this;
  }
  signTransaction(tx: TransactionRequest): Promise<string> {
    return this.inner.signTransaction(tx);
  }
  signMessage(message: string | Uint8Array): Promise<string> {
    return this.inner.signMessage(message);
  }
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    return this.inner.signTypedData(domain, types, value);
  }
  override sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    return this.nonces.send(this.label, tx);
  }
}

export class OracleChain {
  readonly oracle: IInferenceOracle;
  readonly reader: IInferenceOracle;
  readonly nonces: TransactionManager;
  private readonly managed: ManagedSigner;
  private queue: Promise<unknown> = Promise.resolve();
  /** Every transaction this relayer mined, for gas accounting. */
  readonly txs: TxRecord[] = [];
  /** Set by close(): waits for pending transactions stop. */
  private readonly stopWaiting = new AbortController();

  constructor(
    readonly provider: Provider,
    readonly signer: Signer,
    readonly oracleAddress: string,
    readonly chainId: bigint,
    private readonly log: Logger,
    private readonly retries: number,
    db: RelayerDb,
    fees: FeePolicy,
  ) {
    this.nonces = new TransactionManager(provider, signer, db, log.child({ part: "nonces" }), fees);
    this.managed = new ManagedSigner(signer, this.nonces);
    this.oracle = IInferenceOracle__factory.connect(oracleAddress, this.managed);
    this.reader = IInferenceOracle__factory.connect(oracleAddress, provider);
  }

  /**
   * Before new transactions, follows the ones a previous run left pending (rebroadcast, bumped or
   * found mined), so a restart neither leaves a gap nor sends the same work twice.
   */
  resumePending(): Promise<void> {
    const run = async (): Promise<void> => {
      await this.nonces.start();
      for (const nonce of this.nonces.pendingNonces()) {
        try {
          await this.nonces.wait(nonce, { signal: this.stopWaiting.signal });
          this.log.info({ nonce }, "transaction left pending by the previous run is mined");
        } catch (error) {
          this.log.warn({ err: error, nonce }, "transaction left pending by the previous run did not land");
        }
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Timestamp of the latest block (seconds): what the next block's `block.timestamp` is at least. */
  async chainTime(): Promise<number> {
    const block = await this.provider.getBlock("latest");
    if (block === null) throw new OracleError("CHAIN_UNAVAILABLE", "the node returned no latest block", { retryable: true });
    return block.timestamp;
  }

  /** Decodes a revert into the oracle's custom error name, if it is one. */
  decodeRevert(error: unknown): { name: string; args: unknown[] } | undefined {
    const data = findRevertData(error);
    if (data === undefined) return undefined;
    try {
      const parsed = this.oracle.interface.parseError(data);
      return parsed === null ? undefined : { name: parsed.name, args: [...parsed.args] };
    } catch {
      return undefined;
    }
  }

  /**
   * Sends one transaction at a time (so nonces never collide), waits for its receipt, and retries a
   * bounded number of times on transient errors. A revert is not retried: it throws CHAIN_REVERTED
   * with the decoded custom error.
   */
  send(label: string, items: number, build: () => Promise<ContractTransactionResponse | ContractTransaction>): Promise<TransactionReceipt> {
    const final = (error: unknown) => isError(error, "CHAIN_REVERTED") || isError(error, "TIMEOUT");
    const once = async (): Promise<TransactionReceipt> => {
      try {
        // `build` either calls a method of `oracle` (sent through the nonce manager by the managed
        // signer) or returns a populated call (`oracle.x.populateTransaction(...)`) sent here.
        this.managed.label = label;
        const built = await build();
        const nonce = "hash" in built && typeof built.hash === "string" ? built.nonce : (await this.nonces.send(label, built)).nonce;
        const receipt = await this.nonces.wait(nonce, { signal: this.stopWaiting.signal });
        this.txs.push({ label, hash: receipt.hash, gasUsed: receipt.gasUsed, items, at: Date.now() });
        return receipt;
      } catch (error) {
        if (final(error)) throw error;
        const revert = this.decodeRevert(error);
        if (revert === undefined && !isRevert(error)) throw error;
        throw new OracleError("CHAIN_REVERTED", `${label} reverted${revert ? `: ${revert.name}` : ""}`, {
          cause: error,
          details: { label, error: revert?.name, args: revert?.args.map(String) },
        });
      }
    };
    const run = () =>
      retry(once, {
        attempts: this.retries + 1,
        delayMs: (attempt) => 200 * 2 ** (attempt - 1),
        retryIf: (error) => !final(error),
        giveUp: (error, attempts) => (final(error) ? error : new OracleError("CHAIN_UNAVAILABLE", `${label} failed after ${attempts} attempts`, { cause: error, retryable: true })),
        onRetry: (error, attempt) => this.log.warn({ err: error, label, attempt }, "transaction failed, retrying"),
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Waits for every queued transaction. */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Stops following pending transactions (they stay recorded and are resumed by the next run). */
  stop(): void {
    this.stopWaiting.abort();
  }
}

function findRevertData(error: unknown): string | undefined {
  for (const o of errorChain(error) as Iterable<{ data?: unknown }>) {
    if (typeof o.data === "string" && o.data.startsWith("0x") && o.data.length >= 10) return o.data;
    if (o.data !== null && typeof o.data === "object" && typeof (o.data as { data?: unknown }).data === "string") {
      return (o.data as { data: string }).data;
    }
  }
  return undefined;
}

function isRevert(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "CALL_EXCEPTION";
}
