/**
 * The loop the worker's dispute answerers share (worker/prover-answerer.ts for ZK disputes,
 * worker/game-answerer.ts for fraud games): from a start block, scan new blocks every
 * `pollIntervalMs`, one scan at a time; `poll()` scans now (tests); closing stops the timer and waits
 * for the scan in flight.
 */
import type { Provider } from "ethers";

export interface BlockPollerOptions {
  provider: Provider;
  startBlock?: number;
  pollIntervalMs?: number;
}

export abstract class BlockPoller {
  /** The first block the next scan reads. */
  protected next = -1;
  protected closed = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly pollOptions: BlockPollerOptions) {}

  /** Reads blocks `next`..latest and advances `next`; never throws (it logs). */
  protected abstract scan(): Promise<void>;

  async start(): Promise<void> {
    this.next = this.pollOptions.startBlock ?? (await this.pollOptions.provider.getBlockNumber());
    const tick = () => {
      if (this.closed) return;
      this.timer = setTimeout(() => void this.poll().finally(tick), this.pollOptions.pollIntervalMs ?? 500);
    };
    tick();
  }

  /** Scans new blocks now (tests; the timer does it every pollIntervalMs). */
  poll(): Promise<void> {
    this.running ??= this.scan().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops the timer and waits for the scan in flight; safe to call twice. */
  protected async stopPolling(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
