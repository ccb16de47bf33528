/**
 * Moves redundant requests on (contracts/redundancy/RedundantInference.sol): an answer counts only
 * once its worker is attested from the oracle's committed batch roots, so for every RedundantInference
 * contract it is given (`redundant` in the config, or `watch`) the relayer, paying the gas through its own
 * nonce manager, attests every answer the oracle fulfilled, replaces duplicate or refunded answers from the
 * job's reserve, decides a Comparing job (answers that differ by hash, compared on chain within τ_out),
 * delivers a decided job to its consumer and closes a job left open past its closeAt or Comparing past its
 * decideBy (the default outcomes) (sdk/redundancy.ts `jobActions`). It learns of answers from the
 * EventWatcher's events (the watcher reads the contracts' logs). Anyone may do each of these, so this is a
 * service, not a duty; the requester's prepaid attestReward pays each attestation and decide, and the
 * attester withdraws what it earned when a job it moved is finished.
 */
import type { Logger } from "../protocol/index.js";
import { jobActions, redundantContract, JobStatus } from "../sdk/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { FollowContract } from "./chain-advancer.js";
import type { DomainEvent, EventSubscriber } from "./events.js";

export class RedundancyAttester implements EventSubscriber {
  private readonly contracts = new Set<string>();
  /** Jobs seen with activity that are not finished (decided and delivered, or closed): looked at every tick. */
  private readonly jobs = new Map<string, { address: string; jobId: bigint }>();

  constructor(
    private readonly chain: OracleChain,
    addresses: readonly string[],
    private readonly startBlock: number,
    private readonly follow: FollowContract,
    private readonly log: Logger,
    /** The workers' uploaded outputs: the bytes of answers delivered as hash only, for `decide` and `deliver`. */
    private readonly blobs?: BlobStore,
  ) {
    for (const a of addresses) this.watch(a);
  }

  /** The RedundantInference contracts watched. */
  get addresses(): string[] {
    return [...this.contracts];
  }

  /** Whether `address` is a watched RedundantInference contract. */
  watches(address: string): boolean {
    return this.contracts.has(address.toLowerCase());
  }

  /** Starts attesting the jobs of one more RedundantInference contract (from `fromBlock`, default startBlock). */
  watch(address: string, fromBlock = this.startBlock): void {
    const key = address.toLowerCase();
    if (this.contracts.has(key)) return;
    this.contracts.add(key);
    this.follow(key, fromBlock);
  }

  /** A job with a new answer (delivered or refunded) is looked at from the next tick on. */
  onEvents(events: readonly DomainEvent[]): void {
    for (const e of events) {
      if (e.kind === "redundantAnswer" && this.contracts.has(e.contract)) this.jobs.set(`${e.contract}/${e.jobId}`, { address: e.contract, jobId: e.jobId });
    }
  }

  async tick(): Promise<void> {
    for (const [key, { address, jobId }] of this.jobs) {
      const contract = redundantContract(address, this.chain.provider);
      try {
        const blobs = this.blobs;
        const outputs = blobs === undefined ? undefined : async (hash: string) => (blobs.has(hash) ? blobs.get(hash) : undefined);
        const actions = await jobActions(contract, this.chain.oracleAddress, jobId, { fromBlock: this.startBlock, ...(outputs === undefined ? {} : { outputs }) });
        for (const a of actions) {
          await this.chain.send(`redundancy-${a.kind}`, 1, a.build);
          this.log.info({ redundant: address, jobId: String(jobId), action: a.kind }, "redundant job moved on");
        }
        const job = await contract.getJob(jobId);
        const status = Number(job.status) as JobStatus;
        if (status === JobStatus.Incomplete || ((status === JobStatus.Agreed || status === JobStatus.Disagreed) && job.delivered)) {
          this.jobs.delete(key);
          await this.withdrawRewards(address);
        }
      } catch (error) {
        this.log.warn({ err: error, redundant: address, jobId: String(jobId) }, "could not move the redundant job on yet; will retry");
      }
    }
  }

  /** Pulls the attestation rewards this relayer earned on `address` (nothing to pull: nothing sent). */
  private async withdrawRewards(address: string): Promise<void> {
    const contract = redundantContract(address, this.chain.provider);
    const earned = await contract.balanceOf(await this.chain.signer.getAddress());
    if (earned === 0n) return;
    await this.chain.send("redundancy-withdraw", 1, () => contract.withdraw.populateTransaction());
    this.log.info({ redundant: address, amount: earned.toString() }, "attestation rewards withdrawn");
  }
}
