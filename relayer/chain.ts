/**
 * The relayer's view of the chain: typed oracle binding, chain time, and one serialized
 * transaction sender (`send(label, items, build)`) that retries transient failures and decodes reverts. Its nonces come from the
 * TransactionManager (tx-manager.ts): tracked in the database, healed when dropped, bumped when stuck.
 */
import type { ContractTransaction, Provider, Signer, TransactionReceipt } from "ethers";
import { OracleError, errorChain, IInferenceOracle__factory, isError, type IInferenceOracle, type Logger, retry } from "../protocol/index.js";
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
 * What the submitter, the deadline enforcer and the other senders need of the chain: a transaction sender
 * and the oracle's binding to build calls with. `OracleChain` is the real one; the unit tests of
 * submitter.ts and deadlines.ts give theirs (test/relayer/sender-fixture.ts).
 */
export interface SenderChain {
  readonly oracleAddress: string;
  /** The oracle's binding: populates calls (`oracle.settleMany.populateTransaction(...)`), decodes logs, reads views. */
  readonly oracle: IInferenceOracle;
  readonly provider: Pick<Provider, "getTransactionReceipt">;
  /** Timestamp of the latest block (seconds). */
  chainTime(): Promise<number>;
  /** Sends one call (labelled for the records and metrics); resolves with its receipt, throws CHAIN_REVERTED or CHAIN_UNAVAILABLE. */
  send(label: string, items: number, build: () => Promise<ContractTransaction>): Promise<TransactionReceipt>;
}

export class OracleChain implements SenderChain {
  /**
   * The oracle's binding for building calls and decoding (connected to the provider: it cannot send
   * by itself, so every transaction goes through `send` and the transaction manager, with its label).
   */
  readonly oracle: IInferenceOracle;
  /** The oracle's views. */
  readonly reader: IInferenceOracle;
  readonly nonces: TransactionManager;
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
    this.oracle = IInferenceOracle__factory.connect(oracleAddress, provider);
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
  send(label: string, items: number, build: () => Promise<ContractTransaction>): Promise<TransactionReceipt> {
    const final = (error: unknown) => isError(error, "CHAIN_REVERTED") || isError(error, "TIMEOUT");
    const once = async (): Promise<TransactionReceipt> => {
      try {
        // `build` returns a populated call (`oracle.x.populateTransaction(...)`), sent under `label`.
        const { nonce } = await this.nonces.send(label, await build());
        const receipt = await this.nonces.wait(nonce, { signal: this.stopWaiting.signal });
        this.txs.push({ label, hash: receipt.hash, gasUsed: receipt.gasUsed, items, at: Date.now() });
        return receipt;
      } catch (error) {
        if (final(error)) throw error;
        const revert = this.decodeRevert(error);
        // A revert of another contract (a feature contract's custom error) carries revert data too.
        if (revert === undefined && !isRevert(error) && findRevertData(error) === undefined) throw error;
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
