/**
 * The worker's standing with each oracle it signs for, watched while it runs. The oracle accepts a
 * result only from a registered operator whose active stake (stake minus unbonding) covers the
 * minimum and whose free stake covers one result bond (StakeLedger.canBackError); a worker slashed or
 * unbonded below that while running would otherwise go on signing results that are all dropped.
 *
 * StakeWatch reads `operatorOf(signer)`, `getWorker(operator)` and `params()` every `pollMs` (and on
 * demand), logs a warning naming the command that fixes it when the worker can no longer back a result
 * (and an info line when it can again), exports `oracle_worker_stake_can_back` / `oracle_worker_stake_active_wei` /
 * `oracle_worker_stake_free_wei` per oracle, serves a readiness check for /readyz, and answers `canBack`:
 * the worker passes jobs it cannot back on to other workers (worker.ts) until the stake is back.
 */
import { formatEther, ZeroAddress, type Provider } from "ethers";
import { Gauge, type Registry } from "prom-client";
import { IInferenceOracle__factory, type Logger } from "../protocol/index.js";

export interface StakeStanding {
  oracle: string;
  chainId: bigint;
  /** Whether a result signed now would be backed (undefined until first read). */
  canBack: boolean;
  /** Why not, with the command that fixes it. */
  problem?: string;
  operator: string;
  activeWei: bigint;
  freeWei: bigint;
  minStakeWei: bigint;
  resultBondWei: bigint;
  checkedAt: number;
}

/** The problem with a worker's stake, naming the command that fixes it; undefined when it can back a result. */
export function stakeProblem(
  v: { signer: string; oracle: string; chainId: bigint; operator: string; stake: bigint; unbonding: bigint; locked: bigint; minStake: bigint; resultBond: bigint },
  command = "oracle",
): string | undefined {
  if (v.operator === ZeroAddress) {
    return (
      `signing key ${v.signer} is not staked with the oracle ${v.oracle} (chain ${v.chainId}): the relayer would drop every result it signs. ` +
      `Register it from your operator account with at least ${formatEther(v.minStake)} ETH: ${command} stake ${formatEther(v.minStake + v.resultBond)} --signer ${v.signer} --key <operator key>`
    );
  }
  const active = v.stake - v.unbonding;
  if (active < v.minStake) {
    return (
      `signing key ${v.signer} (operator ${v.operator}) has ${formatEther(active)} ETH active stake with the oracle ${v.oracle}, below the minimum ${formatEther(v.minStake)} ETH: ` +
      `its results would be dropped. Add stake from the operator account: ${command} stake ${formatEther(v.minStake - active + v.resultBond)} --key <operator key>`
    );
  }
  if (active - v.locked < v.resultBond) {
    return (
      `signing key ${v.signer} (operator ${v.operator}) has ${formatEther(active - v.locked)} ETH free stake with the oracle ${v.oracle}, less than one result bond (${formatEther(v.resultBond)} ETH): ` +
      `new results would be dropped until open ones settle. Add stake: ${command} stake ${formatEther(v.resultBond)} --key <operator key>`
    );
  }
  return undefined;
}

export interface StakeWatchOptions {
  provider: Provider;
  signer: string;
  oracles: ReadonlyArray<{ chainId: bigint; oracle: string }>;
  logger: Logger;
  /** Where the gauges go (the worker's metrics registry); none when omitted. */
  registry?: Registry;
  /** How often the stake is read (ms; default 5000). */
  pollMs?: number;
  /** How the fix is spelled (`oracle`, `npm run oracle --`). */
  command?: string;
}

export class StakeWatch {
  private readonly standings = new Map<string, StakeStanding>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private readonly gauges: { canBack: Gauge<"oracle">; active: Gauge<"oracle">; free: Gauge<"oracle"> } | undefined;

  constructor(private readonly options: StakeWatchOptions) {
    const registers = options.registry === undefined ? undefined : [options.registry];
    this.gauges = registers === undefined ? undefined : {
      canBack: new Gauge({ name: "oracle_worker_stake_can_back", help: "1 when this worker's stake backs a new result with the oracle (active stake >= minimum, free stake >= one result bond), else 0: jobs are passed on", labelNames: ["oracle"], registers }),
      active: new Gauge({ name: "oracle_worker_stake_active_wei", help: "Active stake (stake minus unbonding) of this worker's operator, in wei", labelNames: ["oracle"], registers }),
      free: new Gauge({ name: "oracle_worker_stake_free_wei", help: "Free stake (active minus bonds locked by open results) of this worker's operator, in wei", labelNames: ["oracle"], registers }),
    };
  }

  /** Reads the stake once, then every pollMs. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.pollMs ?? 5000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether a result for this oracle would be backed now; true until the stake was read (and while the chain does not answer). */
  canBack(chainId: bigint, oracle: string): boolean {
    return this.standings.get(key(chainId, oracle))?.canBack ?? true;
  }

  standing(chainId: bigint, oracle: string): StakeStanding | undefined {
    return this.standings.get(key(chainId, oracle));
  }

  /** For /readyz: throws the problems while any oracle's stake cannot back a result. */
  readiness(): Record<string, unknown> {
    const bad = [...this.standings.values()].filter((s) => !s.canBack);
    if (bad.length > 0) throw new Error(bad.map((s) => s.problem).join("; "));
    return Object.fromEntries([...this.standings.values()].map((s) => [s.oracle, { activeEth: formatEther(s.activeWei), freeEth: formatEther(s.freeWei) }]));
  }

  /** Reads every oracle's view of this worker now (one read at a time). */
  check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkNow(): Promise<void> {
    const { provider, signer, logger } = this.options;
    for (const { chainId, oracle: address } of this.options.oracles) {
      const oracle = IInferenceOracle__factory.connect(address, provider);
      let next: StakeStanding;
      try {
        const [operator, params] = await Promise.all([oracle.operatorOf(signer), oracle.params()]);
        const w = operator === ZeroAddress ? { stake: 0n, unbonding: 0n, locked: 0n } : await oracle.getWorker(operator);
        const problem = stakeProblem(
          { signer, oracle: address, chainId, operator, stake: w.stake, unbonding: w.unbonding, locked: w.locked, minStake: params.minStake, resultBond: params.resultBond },
          this.options.command,
        );
        next = {
          oracle: address, chainId, canBack: problem === undefined, ...(problem === undefined ? {} : { problem }), operator,
          activeWei: w.stake - w.unbonding, freeWei: w.stake - w.unbonding - w.locked, minStakeWei: params.minStake, resultBondWei: params.resultBond, checkedAt: Date.now(),
        };
      } catch (error) {
        // An unreachable chain is not a stake problem: keep the last reading (the readiness chain check reports the chain).
        logger.debug({ err: error, oracle: address }, "could not read this worker's stake");
        continue;
      }
      const previous = this.standings.get(key(chainId, address));
      this.standings.set(key(chainId, address), next);
      const label = { oracle: address };
      this.gauges?.canBack.set(label, next.canBack ? 1 : 0);
      this.gauges?.active.set(label, Number(next.activeWei));
      this.gauges?.free.set(label, Number(next.freeWei));
      if (!next.canBack && (previous === undefined || previous.canBack || previous.problem !== next.problem)) {
        logger.warn({ oracle: address, operator: next.operator, activeStake: formatEther(next.activeWei), freeStake: formatEther(next.freeWei), minStake: formatEther(next.minStakeWei), resultBond: formatEther(next.resultBondWei) },
          `stake too low: passing jobs on to other workers until it is back: ${next.problem}`);
      } else if (next.canBack && previous !== undefined && !previous.canBack) {
        logger.info({ oracle: address, activeStake: formatEther(next.activeWei), freeStake: formatEther(next.freeWei) }, "stake is back: taking jobs again");
      }
    }
  }
}

function key(chainId: bigint, oracle: string): string {
  return `${chainId}:${oracle.toLowerCase()}`;
}
