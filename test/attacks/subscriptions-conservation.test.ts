/**
 * Randomized funds conservation for InferenceSubscriptions (issue 18): seeded random sequences of
 * subscribe / trigger / deliver / expire-and-refund / cancel / withdraw / withdrawRewards over several
 * subscriptions (fixed and consumer-made inputs, some consumers refusing input so rounds are skipped),
 * on the real oracle. After every step:
 *
 *   subscriptions' ETH == Σ subscription balances + Σ keeper rewards owed + unattributed
 *   every subscription's balance == what a plain model of its rounds says
 *   Σ prepaid == Σ paid to owners + Σ rewards credited + Σ fees spent on delivered rounds
 *                + Σ balances + Σ fees of rounds still in flight
 */
import { describe, it, expect } from "vitest";
import { network } from "hardhat";
import { events, send, FEE, type Connection } from "../contracts/helpers.js";
import { deploySubs, subParams, prepay, deliver, SubMode, type SubsFx } from "../contracts/subscriptions-helpers.js";
import { seededRandom } from "../../protocol/index.js";

const STEPS = Number(process.env.SUBS_STEPS ?? 120);
const WINDOW = 300;

interface SubModel {
  id: bigint;
  owner: any;
  balance: bigint;
  fee: bigint;
  reward: bigint;
  closed: boolean;
}

describe("attack: subscriptions under random subscribe/trigger/deliver/refund/cancel sequences", () => {
  it(`test_subscriptions_randomSequences_fundsConserved (${STEPS} steps)`, async () => {
    const conn: Connection = await network.create();
    const fx: SubsFx = await deploySubs(conn);
    const refusing: any = await fx.ethers.deployContract("HostileSubscriber", [fx.subsAddr, "0x" + "00".repeat(32)]);
    await send(refusing.setModes(SubMode.Revert, SubMode.Revert));
    const next = seededRandom(0x5b5);
    const int = (n: number) => Math.floor(next() * n);
    const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
    const owners = [fx.requester, fx.admin, fx.modelOwner];
    const keepers = [fx.other, fx.challenger];
    const subs: SubModel[] = [];
    const inFlight = new Map<string, { sub: SubModel; fee: bigint; deadline: bigint }>();
    let prepaid = 0n;
    let paidOut = 0n;
    let rewards = 0n;
    let spent = 0n;
    const counts: Record<string, number> = {};

    const check = async (where: string) => {
      let balances = 0n;
      for (const s of subs) {
        const b = (await fx.subs.getSubscription(s.id)).balance as bigint;
        expect(b, `balance of ${s.id} ${where}`).toBe(s.balance);
        balances += b;
      }
      let owed = 0n;
      for (const k of keepers) owed += (await fx.subs.rewardsOf(k.address)) as bigint;
      const unattributed = (await fx.subs.unattributed()) as bigint;
      expect(await fx.ethers.provider.getBalance(fx.subsAddr), `conservation ${where}`).toBe(balances + owed + unattributed);
      let flying = 0n;
      for (const f of inFlight.values()) flying += f.fee;
      expect(prepaid, `prepaid ${where}`).toBe(paidOut + rewards + spent + balances + flying);
    };

    for (let step = 0; step < STEPS; step++) {
      const op = subs.length === 0 ? 0 : int(7);
      const where = `step ${step} op ${op}`;
      if (op === 0 && subs.length < 8) {
        const consumerKind = int(3); // 0 fixed input, 1 consumer-made input, 2 refusing consumer
        const o = {
          maxDeliveries: 1 + int(4),
          fee: FEE + BigInt(int(1000)),
          reward: BigInt(int(3)) * 10n ** 13n,
          interval: 60 + int(600),
          deliveryWindow: WINDOW,
          inputFromConsumer: consumerKind !== 0,
          consumer: consumerKind === 2 ? await refusing.getAddress() : fx.consumerAddr,
        };
        const p = subParams(fx, o);
        const owner = pick(owners);
        const r = await send(fx.subs.connect(owner).subscribe(p, { value: prepay(p) }));
        const id = events(r, fx.subs, "Subscribed")[0]!.args.subId as bigint;
        subs.push({ id, owner, balance: prepay(p), fee: p.perDeliveryFee, reward: p.keeperReward, closed: false });
        prepaid += prepay(p);
      } else if (op === 1 || op === 2) {
        const s = pick(subs);
        if (!(await fx.subs.isDue(s.id))) {
          await conn.networkHelpers.time.increase(1 + int(400));
          counts.wait = (counts.wait ?? 0) + 1;
          continue;
        }
        const r = await send(fx.subs.connect(pick(keepers)).trigger(s.id));
        s.balance -= s.reward;
        rewards += s.reward;
        const ev = events(r, fx.subs, "RoundTriggered")[0];
        if (ev !== undefined) {
          s.balance -= s.fee;
          const req = await fx.oracle.getRequest(ev.args.requestId);
          inFlight.set(ev.args.requestId, { sub: s, fee: s.fee, deadline: req.deadline });
          counts.trigger = (counts.trigger ?? 0) + 1;
        } else {
          expect(events(r, fx.subs, "RoundSkipped")).toHaveLength(1);
          counts.skip = (counts.skip ?? 0) + 1;
        }
      } else if (op === 3 && inFlight.size > 0) {
        const t = BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
        const live = [...inFlight.entries()].filter(([, f]) => f.deadline > t + 1n);
        if (live.length === 0) continue;
        const [id, f] = pick(live);
        await deliver(fx, id, int(3));
        inFlight.delete(id);
        spent += f.fee;
        counts.deliver = (counts.deliver ?? 0) + 1;
      } else if (op === 4 && inFlight.size > 0) {
        await conn.networkHelpers.time.increase(WINDOW + 1);
        const t = BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
        const expired = [...inFlight.entries()].filter(([, f]) => f.deadline < t);
        await send(fx.oracle.refundExpired(expired.map(([id]) => id)));
        for (const [id, f] of expired) {
          f.sub.balance += f.fee;
          inFlight.delete(id);
        }
        counts.refund = (counts.refund ?? 0) + expired.length;
      } else if (op === 5) {
        const s = pick(subs);
        if (s.closed) {
          const r = await send(fx.subs.connect(s.owner).withdraw(s.id));
          paidOut += events(r, fx.subs, "SubscriptionWithdrawn")[0]!.args.amount as bigint;
          s.balance = 0n;
          counts.withdraw = (counts.withdraw ?? 0) + 1;
        } else {
          const r = await send(fx.subs.connect(s.owner).cancel(s.id));
          const amount = events(r, fx.subs, "SubscriptionWithdrawn")[0]!.args.amount as bigint;
          expect(amount).toBe(s.balance);
          paidOut += amount;
          s.balance = 0n;
          s.closed = true;
          counts.cancel = (counts.cancel ?? 0) + 1;
        }
      } else if (op === 6) {
        const k = pick(keepers);
        const owed = (await fx.subs.rewardsOf(k.address)) as bigint;
        const r = await send(fx.subs.connect(k).withdrawRewards());
        expect(events(r, fx.subs, "RewardsWithdrawn")[0]!.args.amount).toBe(owed);
        rewards -= owed;
        paidOut += owed;
        counts.rewards = (counts.rewards ?? 0) + 1;
      }
      await check(where);
    }
    // Wind down: every round in flight expires, everyone closes and withdraws; nothing is left behind.
    await conn.networkHelpers.time.increase(WINDOW + 1);
    if (inFlight.size > 0) {
      await send(fx.oracle.refundExpired([...inFlight.keys()]));
      for (const f of inFlight.values()) f.sub.balance += f.fee;
      inFlight.clear();
    }
    for (const s of subs) {
      const r = await send(s.closed ? fx.subs.connect(s.owner).withdraw(s.id) : fx.subs.connect(s.owner).cancel(s.id));
      paidOut += events(r, fx.subs, "SubscriptionWithdrawn")[0]!.args.amount as bigint;
      s.balance = 0n;
      s.closed = true;
    }
    for (const k of keepers) {
      const owed = (await fx.subs.rewardsOf(k.address)) as bigint;
      await send(fx.subs.connect(k).withdrawRewards());
      rewards -= owed;
      paidOut += owed;
    }
    await check("end");
    expect(await fx.ethers.provider.getBalance(fx.subsAddr)).toBe(0n);
    expect(prepaid).toBe(paidOut + spent);
    // The sequence exercised every path.
    for (const k of ["trigger", "skip", "deliver", "refund", "cancel"]) expect(counts[k] ?? 0, `${k} in ${JSON.stringify(counts)}`).toBeGreaterThan(0);
  });
});
