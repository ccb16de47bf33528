/**
 * The relayer's view of the chain: typed oracle binding, chain time, and one serialized
 * transaction sender (one nonce stream) that retries transient failures and decodes reverts.
 */
import type { ContractTransactionResponse, Provider, Signer, TransactionReceipt } from "ethers";
import { BaseError, IInferenceOracle__factory, type IInferenceOracle, type Logger } from "../protocol/index.js";

export interface TxRecord {
  label: string;
  hash: string;
  gasUsed: bigint;
  items: number;
  at: number;
}

export class OracleChain {
  readonly oracle: IInferenceOracle;
  readonly reader: IInferenceOracle;
  private queue: Promise<unknown> = Promise.resolve();
  /** Every transaction this relayer mined, for gas accounting. */
  readonly txs: TxRecord[] = [];

  constructor(
    readonly provider: Provider,
    readonly signer: Signer,
    readonly oracleAddress: string,
    readonly chainId: bigint,
    private readonly log: Logger,
    private readonly retries: number,
  ) {
    this.oracle = IInferenceOracle__factory.connect(oracleAddress, signer);
    this.reader = IInferenceOracle__factory.connect(oracleAddress, provider);
  }

  /** Timestamp of the latest block (seconds): what the next block's `block.timestamp` is at least. */
  async chainTime(): Promise<number> {
    const block = await this.provider.getBlock("latest");
    if (block === null) throw new BaseError("CHAIN_UNAVAILABLE", "the node returned no latest block", { retryable: true });
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
  send(label: string, items: number, build: () => Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
    const run = async (): Promise<TransactionReceipt> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const tx = await build();
          const receipt = await tx.wait();
          if (receipt === null) throw new BaseError("CHAIN_UNAVAILABLE", `no receipt for ${tx.hash}`, { retryable: true });
          this.txs.push({ label, hash: receipt.hash, gasUsed: receipt.gasUsed, items, at: Date.now() });
          return receipt;
        } catch (error) {
          const revert = this.decodeRevert(error);
          if (revert !== undefined || isRevert(error)) {
            throw new BaseError("CHAIN_REVERTED", `${label} reverted${revert ? `: ${revert.name}` : ""}`, {
              cause: error,
              details: { label, error: revert?.name, args: revert?.args.map(String) },
            });
          }
          if (attempt >= this.retries) {
            throw new BaseError("CHAIN_UNAVAILABLE", `${label} failed after ${attempt + 1} attempts`, { cause: error, retryable: true });
          }
          this.log.warn({ err: error, label, attempt }, "transaction failed, retrying");
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Waits for every queued transaction. */
  async drain(): Promise<void> {
    await this.queue;
  }
}

function findRevertData(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 6 && e !== null && typeof e === "object"; depth++) {
    const o = e as { data?: unknown; error?: unknown; cause?: unknown; info?: { error?: unknown } };
    if (typeof o.data === "string" && o.data.startsWith("0x") && o.data.length >= 10) return o.data;
    if (o.data !== null && typeof o.data === "object" && typeof (o.data as { data?: unknown }).data === "string") {
      return (o.data as { data: string }).data;
    }
    e = o.error ?? o.info?.error ?? o.cause;
  }
  return undefined;
}

function isRevert(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "CALL_EXCEPTION";
}
