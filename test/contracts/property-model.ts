/**
 * The ledger model of InferenceOracle.property.test.ts: the fixture (the stack plus hostile
 * consumers), a per-request model rebuilt from the oracle's events (fees, bonds, disputes, params
 * versions, batch proofs), and the invariants checked against the oracle's views and ether balance
 * after every action.
 */
import { batchProof, batchesFromLogs, processProof, resultLeaf, seededRandom } from "../../protocol/index.js";
import { expect } from "vitest";
import { type TransactionReceipt } from "ethers";
import { deploy, tensorF32, events, submittedOf, ETH, MODEL_FEE, PARAMS, Status, Tier, type Connection, type Fx } from "./helpers.js";

export const GAS = { gasLimit: 5_000_000 };
export const OUTPUTS = [tensorF32([1, 2], [0.9, 0.1]), tensorF32([1, 2], [0.3, 0.7]), tensorF32([1, 2], [0.5, 0.5])];

export function prng(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}

export interface Req {
  id: string;
  tier: number;
  status: number;
  fee: bigint;
  deadline: bigint;
  timeout: bigint;
  worker?: string;
  relayer?: string;
  outputHash?: string;
  disputeBond?: bigint;
  /** Challengers of the open dispute (the opener first). */
  joiners?: string[];
  /** Overturned results so far (RequestReopened events); part of the result leaf. */
  attempt: number;
  /** The params version the request was made under (predicted from ParamsScheduled events). */
  version: number;
  /** The fee part that pays the callback's gas: callbackGasLimit x max(basefee, minGasPrice) at request time. */
  callbackFee: bigint;
  /** Whether the request has a callback (then delivery needs the output bytes, finding 2). */
  callback: boolean;
  /** The largest output its callback takes inline (maxInlineOutput, 0 resolved to the cap; issue 18). */
  maxInline: number;
  /** Merkle proof of the current result's leaf, rebuilt from the submitting transaction's logs. */
  proof?: string[];
  paid: number;
  refunded: number;
  requester: string;
}

export async function propertyFixture(conn: Connection) {
  const fx = await deploy(conn);
  const honest = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, 0]);
  const refusing = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, 1]);
  // Burns all the gas it gets in callbacks and refund pushes (refund griefing, issue 12 finding 7).
  const burner = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, 2]);
  return { ...fx, honest, refusing, burner };
}
export type PFx = Awaited<ReturnType<typeof propertyFixture>>;

export class Model {
  reqs = new Map<string, Req>();
  stakes = new Map<string, bigint>();
  locked = new Map<string, bigint>();
  unbonding = new Map<string, bigint>();
  readyAt = new Map<string, bigint>();
  pull = new Map<string, bigint>();
  bonds = 0n;
  /** Shares fixed by WorkerFault/OutputMinor rulings not yet claimed, and the wei burned. */
  unclaimed = 0n;
  burned = 0n;
  /** Per ruled dispute (`${id}:${attempt}`): each joiner's share and who has not claimed yet. */
  claims = new Map<string, { id: string; attempt: number; share: bigint; open: Set<string> }>();
  disqualified = new Set<string>(); // `${id}:${operator}`
  /** Recorded rejections, `${id}:${operator}` (each operator once per request), and the count per request. */
  rejected = new Set<string>();
  rejections = new Map<string, number>();
  roots = new Set<string>();
  /** Every scheduled version: its params and when it takes effect (a replaced pending one is overwritten). */
  versions = new Map<number, { p: typeof PARAMS; effectiveAt: bigint }>([[1, { p: PARAMS, effectiveAt: 0n }]]);
  /** BalanceCredited events since the last RequestFulfilled in the receipt being applied. */
  private credits: { account: string; amount: bigint }[] = [];

  versionAt(t: bigint): number {
    let best = 1;
    for (const [v, { effectiveAt }] of this.versions) if (effectiveAt <= t && v > best) best = v;
    return best;
  }

  paramsOf(r: Req): typeof PARAMS {
    return this.versions.get(r.version)!.p;
  }

  constructor(fx: Fx) {
    for (const op of fx.ops) {
      this.stakes.set(op.address, 2n * ETH);
      this.locked.set(op.address, 0n);
      this.unbonding.set(op.address, 0n);
      this.readyAt.set(op.address, 0n);
    }
  }

  add(map: Map<string, bigint>, k: string, v: bigint) {
    map.set(k, (map.get(k) ?? 0n) + v);
  }

  escrow(): bigint {
    let s = 0n;
    for (const r of this.reqs.values()) if (r.status >= Status.Requested && r.status <= Status.Challenged) s += r.fee;
    return s;
  }

  apply(fx: Fx, receipt: TransactionReceipt, blockTime: bigint, baseFee: bigint) {
    const proofs = new Map<string, { proof: string[]; attempt: number }>();
    for (const batch of batchesFromLogs(receipt.logs, fx.oracleAddr)) {
      const leaves = batch.items.map((x) => x.leaf);
      batch.items.forEach((item, i) => proofs.set(item.requestId, { proof: batchProof(leaves, i), attempt: item.attempt }));
      this.roots.add(batch.root);
    }
    this.credits = [];
    // Accepted results are records of one ResultBatchSubmitted per batch, logged after the batch's NONE/ZK
    // RequestFulfilled events: who served each request is applied first (one result per request per call).
    for (const res of submittedOf(receipt, fx.oracle)) {
      const r = this.reqs.get(res.requestId);
      Object.assign(r!, { worker: res.worker, relayer: res.relayer, outputHash: res.outputHash });
      // Whoever submitted (relayers submit each other's copies here), the payee is the one the
      // worker signed: fx.relayer, or the worker itself for a zero payee.
      expect([fx.relayer.address, res.worker], `payee of ${res.requestId}`).toContain(res.relayer);
      expect(res.attempt, "record attempt").toBe(r!.attempt);
      expect(res.optimistic, "record flag").toBe(r!.tier === Tier.OPTIMISTIC);
      if (r!.tier === Tier.OPTIMISTIC) {
        const p = proofs.get(res.requestId);
        expect(p, `a leaf for ${res.requestId}`).toBeDefined();
        r!.proof = p!.proof;
        r!.status = Status.Submitted;
        r!.timeout = BigInt(res.time);
        this.add(this.locked, res.worker, this.paramsOf(r!).resultBond);
      }
    }
    for (const { name, args } of events(receipt, fx.oracle)) {
      const r = args.requestId !== undefined ? this.reqs.get(args.requestId) : undefined;
      switch (name) {
        case "InferenceRequested": {
          const version = this.versionAt(blockTime);
          const minGasPrice = this.versions.get(version)!.p.minGasPrice;
          const price = baseFee > minGasPrice ? baseFee : minGasPrice;
          this.reqs.set(args.requestId, {
            callbackFee: BigInt(args.callbackGasLimit) * price,
            callback: BigInt(args.callbackGasLimit) !== 0n,
            maxInline: PARAMS.maxInlineOutputBytes,
            id: args.requestId, tier: Number(args.tier), status: Status.Requested, fee: args.fee,
            deadline: args.deadline, timeout: args.deadline, paid: 0, refunded: 0, attempt: 0, version,
            requester: args.requester,
          });
          break;
        }
        case "RequestRejected":
          this.rejected.add(`${args.requestId}:${args.worker}`);
          this.rejections.set(args.requestId, (this.rejections.get(args.requestId) ?? 0) + 1);
          break;
        case "ChallengeOpened":
          r!.status = Status.Challenged;
          r!.timeout = args.deadline;
          r!.disputeBond = args.bond;
          expect(args.bond, "challenge bond of the request's version").toBe(this.paramsOf(r!).challengeBond);
          r!.joiners = [args.challenger];
          this.bonds += args.bond;
          break;
        case "DisputeJoined":
          r!.joiners!.push(args.challenger);
          expect(Number(args.joiners), "joiners").toBe(r!.joiners!.length);
          expect(Number(args.attempt), "join attempt").toBe(r!.attempt);
          this.bonds += r!.disputeBond!;
          break;
        case "DisputeResolved": {
          const n = BigInt(r!.joiners!.length);
          const pot = n * r!.disputeBond!;
          const p = this.paramsOf(r!);
          this.bonds -= pot;
          this.burned += args.burned as bigint;
          const ruling = Number(args.ruling);
          if (ruling === 1) {
            // WorkerRight: burnBps of each joiner's bond burned, the rest credited to the worker.
            expect(args.burned, "WorkerRight burn").toBe(n * ((r!.disputeBond! * BigInt(p.burnBps)) / 10_000n));
            r!.status = Status.Submitted;
            r!.timeout = blockTime;
          } else {
            const slashed = ruling === 2 ? p.resultBond : (p.resultBond * BigInt(p.tolerancePenaltyBps)) / 10_000n;
            expect(args.slashed, "slashed").toBe(slashed);
            // Conservation to the wei: the shares and the burn (with the rounding dust) are the slash plus the bonds.
            expect((args.share as bigint) * n + (args.burned as bigint), "ruling split").toBe(slashed + pot);
            expect((args.burned as bigint) >= (slashed * BigInt(p.burnBps)) / 10_000n, "burn share").toBe(true);
            expect((args.burned as bigint) - (slashed * BigInt(p.burnBps)) / 10_000n < n, "dust below joiners").toBe(true);
            this.unclaimed += (args.share as bigint) * n;
            this.claims.set(`${r!.id}:${r!.attempt}`, { id: r!.id, attempt: r!.attempt, share: args.share, open: new Set(r!.joiners) });
            this.add(this.locked, r!.worker!, -p.resultBond);
            this.disqualified.add(`${r!.id}:${r!.worker}`);
          }
          break;
        }
        case "DisputeClaimed": {
          const c = this.claims.get(`${args.requestId}:${Number(args.attempt)}`)!;
          expect(args.amount, "claimed share").toBe(c.share);
          expect(c.open.delete(args.challenger), "claimed once").toBe(true);
          this.unclaimed -= args.amount as bigint;
          break;
        }
        case "WorkerSlashed":
          this.add(this.stakes, args.operator, 0n - (args.amount as bigint));
          break;
        case "RequestReopened":
          r!.attempt++;
          r!.proof = undefined;
          r!.status = Status.Requested;
          r!.timeout = r!.deadline;
          break;
        case "RequestFulfilled": {
          if (r!.tier === Tier.OPTIMISTIC) this.add(this.locked, r!.worker!, -this.paramsOf(r!).resultBond);
          // The fee was split just before, as the request's own version says: owner, relayer, worker
          // (every share is non-zero here: MODEL_FEE > 0, 0 < relayerFeeBps < 10000).
          const rest = r!.fee - MODEL_FEE - r!.callbackFee;
          const relayerCut = (rest * BigInt(this.paramsOf(r!).relayerFeeBps)) / 10_000n;
          expect(this.credits.slice(-2), `fee split of ${r!.id}`).toEqual([
            { account: r!.relayer, amount: relayerCut },
            { account: r!.worker, amount: rest - relayerCut },
          ]);
          this.credits = [];
          r!.status = Status.Fulfilled;
          r!.paid++;
          break;
        }
        case "RequestRefunded":
          r!.status = Status.Refunded;
          r!.refunded++;
          break;
        case "BalanceCredited":
          this.credits.push({ account: args.account, amount: args.amount });
          this.add(this.pull, args.account, args.amount);
          break;
        case "Withdrawn":
          this.add(this.pull, args.account, 0n - (args.amount as bigint));
          break;
        case "ParamsScheduled": {
          const [minStake, resultBond, challengeBond, minWorkerFee, challengeWindow, unbondingDelay, relayerFeeBps,
            maxInlineInputBytes, maxInlineOutputBytes, maxCallbackGasLimit, paramsDelay, minGasPrice, rejectionQuorum, burnBps, tolerancePenaltyBps] = args.params;
          this.versions.set(Number(args.version), {
            p: { minStake, resultBond, challengeBond, minWorkerFee, challengeWindow: Number(challengeWindow), unbondingDelay: Number(unbondingDelay),
              relayerFeeBps: Number(relayerFeeBps), maxInlineInputBytes: Number(maxInlineInputBytes), maxInlineOutputBytes: Number(maxInlineOutputBytes),
              maxCallbackGasLimit: Number(maxCallbackGasLimit), paramsDelay: Number(paramsDelay), minGasPrice, rejectionQuorum: Number(rejectionQuorum),
              burnBps: Number(burnBps), tolerancePenaltyBps: Number(tolerancePenaltyBps) },
            effectiveAt: args.effectiveAt,
          });
          break;
        }
        case "WorkerRegistered":
          this.stakes.set(args.operator, args.stake);
          break;
        case "StakeAdded":
          this.add(this.stakes, args.operator, args.amount);
          break;
        case "UnbondRequested":
          this.add(this.unbonding, args.operator, args.amount);
          this.readyAt.set(args.operator, args.readyAt);
          break;
        case "StakeWithdrawn":
          this.add(this.stakes, args.operator, 0n - (args.amount as bigint));
          this.unbonding.set(args.operator, 0n);
          break;
      }
    }
  }
}

export async function checkInvariants(fx: PFx, m: Model, where: string) {
  const stakes = [...m.stakes.values()].reduce((a, b) => a + b, 0n);
  const pull = [...m.pull.values()].reduce((a, b) => a + b, 0n);
  const balance = await fx.ethers.provider.getBalance(fx.oracleAddr);
  expect(balance, `conservation ${where}`).toBe(stakes + m.escrow() + m.bonds + pull + m.unclaimed + m.burned);
  expect(await fx.oracle.totalBurned(), `burned ${where}`).toBe(m.burned);
  const checks: Promise<void>[] = [];
  for (const op of fx.ops) {
    checks.push(
      fx.oracle.getWorker(op.address).then((w: any) => {
        expect(w.stake, `stake ${where}`).toBe(m.stakes.get(op.address));
        expect(w.locked, `locked ${where}`).toBe(m.locked.get(op.address));
        expect(w.unbonding, `unbonding ${where}`).toBe(m.unbonding.get(op.address));
        const open = [...m.reqs.values()].filter((r) => r.worker === op.address && (r.status === Status.Submitted || r.status === Status.Challenged));
        expect(Number(w.openResults), `openResults ${where}`).toBe(open.length);
        expect(w.locked + w.unbonding <= w.stake, `ledger ${where}`).toBe(true);
      }),
    );
  }
  for (const [acct, owed] of m.pull) checks.push(fx.oracle.balanceOf(acct).then((b: bigint) => expect(b, `pull ${acct} ${where}`).toBe(owed)));
  for (const r of m.reqs.values()) {
    expect(r.paid + r.refunded, `paid/refunded once ${r.id} ${where}`).toBeLessThanOrEqual(1);
    checks.push(fx.oracle.state(r.id).then((s: bigint) => expect(Number(s), `state ${r.id} ${where}`).toBe(r.status)));
    checks.push(
      fx.oracle.getRequest(r.id).then((v: any) => {
        expect(Number(v.attempt), `attempt ${r.id} ${where}`).toBe(r.attempt);
        expect(Number(v.paramsVersion), `params version ${r.id} ${where}`).toBe(r.version);
      }),
    );
    if (r.status === Status.Submitted || r.status === Status.Challenged) {
      // The tracked proof leads from the current result's leaf to a root the oracle committed.
      const leaf = resultLeaf(r.id, r.attempt, { worker: r.worker!, relayer: r.relayer!, outputHash: r.outputHash! });
      const root = processProof(leaf, r.proof!);
      expect(m.roots.has(root), `root of ${r.id} ${where}`).toBe(true);
      checks.push(fx.oracle.isBatchRoot(root).then((b: boolean) => expect(b, `committed root ${r.id} ${where}`).toBe(true)));
    }
  }
  await Promise.all(checks);
}
