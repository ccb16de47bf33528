/**
 * Randomized conservation over rulings and joiner counts (docs/V2.md §5): seeded rounds of disputes on
 * the real oracle and ArbiterResolver, each with 1..9 joiners, a random ruling (WorkerRight,
 * WorkerFault, OutputMinor, or the default after the deadline), under params versions with awkward
 * burn and penalty shares (so shares leave rounding dust). After every ruling and at the end, once
 * everyone claimed and withdrew:
 *
 *   oracle balance == stakes + escrowed fees + open bonds + unclaimed shares + pull balances + totalBurned
 *
 * every ruling splits exactly the slash plus the joiners' bonds (shares + burn, dust included), and a
 * worker's loss on its own WorkerFault is never below the burn of its slash.
 */
import { describe, it, expect } from "vitest";
import { network } from "hardhat";
import { Wallet } from "ethers";
import { deploy, events, requestAndSubmit, send, ETH, PARAMS, RULE_WITHIN, Ruling, Status, type Fx } from "../contracts/helpers.js";
import { seededRandom } from "../../protocol/index.js";

const ROUNDS = Number(process.env.DISPUTE_ROUNDS ?? 14);
const BPS = 10_000n;

describe("attack: dispute payouts under random rulings and joiner counts", () => {
  it(`test_disputes_randomRulingsAndJoiners_fundsConserved (${ROUNDS} rounds)`, async () => {
    const conn = await network.create();
    const fx: Fx = await deploy(conn);
    const next = seededRandom(0xd15b);
    const int = (n: number) => Math.floor(next() * n);
    // Awkward shares from version 2 on: 3333 burn, 7777 penalty (shares do not divide evenly).
    await send(fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, burnBps: 3333, tolerancePenaltyBps: 7777, challengeBond: PARAMS.challengeBond + 7n }));
    const pool: ReturnType<typeof Wallet.createRandom>[] = [];
    for (let i = 0; i < 9; i++) {
      const w = Wallet.createRandom().connect(fx.ethers.provider);
      await conn.networkHelpers.setBalance(w.address, 10n * ETH);
      pool.push(w);
    }
    const tracked = [...pool.map((w) => w.address), ...fx.ops.map((o) => o.address), fx.relayer.address, fx.modelOwner.address];
    let unclaimed = 0n;
    let openBonds = 0n;
    const owed: { id: string; attempt: number; who: typeof pool }[] = [];

    const check = async (where: string) => {
      let stakes = 0n;
      for (const op of fx.ops) stakes += (await fx.oracle.getWorker(op.address)).stake;
      let pulls = 0n;
      for (const a of tracked) pulls += await fx.oracle.balanceOf(a);
      let escrow = 0n;
      for (const { id } of requests) {
        const r = await fx.oracle.getRequest(id);
        if (r.status >= BigInt(Status.Requested) && r.status <= BigInt(Status.Challenged)) escrow += r.fee;
      }
      const burned = await fx.oracle.totalBurned();
      expect(await fx.ethers.provider.getBalance(fx.oracleAddr), `conservation ${where}`).toBe(stakes + escrow + openBonds + unclaimed + pulls + burned);
    };
    const requests: { id: string }[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      if (round === ROUNDS / 2) await conn.networkHelpers.time.increase(PARAMS.paramsDelay); // version 2 from here
      const w = int(3);
      const { id, rec } = await requestAndSubmit(fx, w);
      requests.push({ id });
      const version = (await fx.oracle.getRequest(id)).paramsVersion;
      const p = await fx.oracle.paramsAt(version);
      const n = 1 + int(9);
      const joiners = pool.slice(0, n);
      for (const j of joiners) await send(fx.oracle.connect(j).challenge(id, rec, [], { value: p.challengeBond }));
      openBonds += BigInt(n) * p.challengeBond;
      await check(`round ${round} open`);
      const stakeBefore = (await fx.oracle.getWorker(fx.ops[w]!.address)).stake;
      const kind = int(4);
      let receipt;
      if (kind === 3) {
        await conn.networkHelpers.time.increase(RULE_WITHIN);
        receipt = await send(fx.oracle.resolveDisputeByDefault(id)); // the arbiter's default: WorkerRight
      } else {
        receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, [Ruling.WorkerRight, Ruling.WorkerFault, Ruling.OutputMinor][kind]!));
      }
      const [res] = events(receipt, fx.oracle, "DisputeResolved");
      const ruling = Number(res!.args.ruling);
      const pot = BigInt(n) * p.challengeBond;
      openBonds -= pot;
      if (ruling === Ruling.WorkerRight) {
        expect(res!.args.burned).toBe(BigInt(n) * ((p.challengeBond * BigInt(p.burnBps)) / BPS));
      } else {
        const slashed = ruling === Ruling.WorkerFault ? p.resultBond : (p.resultBond * BigInt(p.tolerancePenaltyBps)) / BPS;
        expect(res!.args.slashed).toBe(slashed);
        expect((res!.args.share as bigint) * BigInt(n) + (res!.args.burned as bigint)).toBe(slashed + pot);
        expect(stakeBefore - (await fx.oracle.getWorker(fx.ops[w]!.address)).stake).toBe(slashed);
        // The worker never breaks even on its own fault, even if every joiner were its sock.
        const coalitionLoss = slashed + pot - (res!.args.share as bigint) * BigInt(n);
        expect(coalitionLoss >= (slashed * BigInt(p.burnBps)) / BPS).toBe(true);
        unclaimed += (res!.args.share as bigint) * BigInt(n);
        owed.push({ id, attempt: 0, who: joiners });
      }
      await check(`round ${round} ruled ${ruling}`);
      // Some joiners claim now, the rest at the end.
      for (const o of owed) {
        while (o.who.length && next() < 0.5) {
          const j = o.who.pop()!;
          const c = await send(fx.oracle.connect(j).claimDispute(o.id, o.attempt));
          unclaimed -= events(c, fx.oracle, "DisputeClaimed")[0]!.args.amount as bigint;
        }
      }
      await check(`round ${round} claims`);
    }
    for (const o of owed) {
      for (const j of o.who) {
        const c = await send(fx.oracle.connect(j).claimDispute(o.id, o.attempt));
        unclaimed -= events(c, fx.oracle, "DisputeClaimed")[0]!.args.amount as bigint;
      }
    }
    expect(unclaimed).toBe(0n);
    await check("all claimed");
    // Everyone withdraws; then only stakes, open fees and the burn remain.
    for (const a of [...pool, fx.ops[0]!, fx.ops[1]!, fx.ops[2]!, fx.relayer, fx.modelOwner]) {
      if ((await fx.oracle.balanceOf(a.address)) > 0n) await send(fx.oracle.connect(a as never).withdraw());
    }
    await check("withdrawn");
    expect(await fx.oracle.totalBurned() > 0n).toBe(true);
  }, 300_000);
});
