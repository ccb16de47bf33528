/**
 * Randomized funds conservation across the token-paid feature paths (issue 18, "refunds, slashing and
 * payouts in the same token"): seeded random sequences over subscriptions and chains paid in one token,
 * with rounds and steps delivered, expired and refunded, refunds claimed at the oracle by an outsider
 * first, syncs, reconciles, cancels and withdrawals. After every step, in the token:
 *
 *   subscriptions: token held == Σ tokenBalance + unattributedToken
 *   every payer: minted == wallet + held for it (subscription tokenBalance / chain credit + escrow)
 *                + fees of its rounds or steps the oracle holds or paid out (not yet refunded back)
 *   oracle: token held == Σ pull balances + fees of open requests + fees of refunded, unclaimed ones
 *
 * and the subscriptions contract's ETH books (balances + rewards + unattributed).
 */
import { describe, it, expect } from "vitest";
import { network } from "hardhat";
import { seededRandom } from "../../protocol/index.js";
import { events, send, Status, Tier, TOKEN_FEE, type Connection, type Fx } from "../contracts/helpers.js";
import { deliver, booksBalance, WINDOW, INTERVAL, type SubsFx } from "../contracts/subscriptions-helpers.js";
import { answer, ChainStatus, LOGITS, MNIST_HASH, PRE_HASH, SMALL, SMOOTH_HASH } from "../contracts/chained-fixture.js";
import { deployChainedToken, deploySubsToken, expectSubsTokenBooks, requestTokenChain, subscribeToken } from "../contracts/token-features-helpers.js";

const STEPS = Number(process.env.TOKEN_PATH_STEPS ?? 70);
const MINTED = 10n ** 12n;

/** The oracle's token books: held == Σ pull balances of `accounts` + fees of `requests` still open or refunded-unclaimed. */
async function expectOracleTokenBooks(fx: Fx, token: any, accounts: string[], requests: Map<string, { fee: bigint; claimed: boolean }>) {
  let owed = 0n;
  for (const a of accounts) owed += (await fx.oracle.tokenBalanceOf(a, token.target)) as bigint;
  for (const [id, r] of requests) {
    const st = Number(await fx.oracle.state(id));
    if (st === Status.Requested || (st === Status.Refunded && !r.claimed)) owed += r.fee;
  }
  expect(await token.balanceOf(fx.oracleAddr)).toBe(owed);
}

/** Whether request `id` is open and still before its deadline (a worker may answer it). */
async function open_(fx: Fx, conn: Connection, id: string): Promise<boolean> {
  if (Number(await fx.oracle.state(id)) !== Status.Requested) return false;
  return BigInt(await conn.networkHelpers.time.latest()) + 1n < ((await fx.oracle.getRequest(id)).deadline as bigint);
}

describe("attack: token-paid features under random sequences", () => {
  it(`test_tokenSubscriptions_randomSequences_fundsConserved (${STEPS} steps)`, async () => {
    const conn: Connection = await network.create();
    const fx = await deploySubsToken(conn);
    const next = seededRandom(0x70c);
    const int = (n: number) => Math.floor(next() * n);
    const owners = [fx.requester, fx.other, fx.admin];
    const keepers = [fx.challenger, fx.relayer];
    const subs: Array<{ id: bigint; owner: any; fee: bigint; closed: boolean }> = [];
    const requests = new Map<string, { fee: bigint; claimed: boolean; sub: number }>();
    const accounts = [fx.modelOwner.address, fx.relayer.address, ...fx.ops.map((o) => o.address), fx.subsAddr, fx.challenger.address];
    const seen = { delivered: 0, synced: 0, claimedFirst: 0, cancelled: 0 };
    for (let step = 0; step < STEPS; step++) {
      const action = subs.length === 0 ? 0 : int(8);
      if (action === 0) {
        const owner = owners[int(owners.length)]!;
        const fee = TOKEN_FEE + BigInt(int(1000));
        subs.push({ id: await subscribeToken(fx, { maxDeliveries: 1 + int(3), fee }, owner), owner, fee, closed: false });
      } else if (action === 1) {
        const s = subs[int(subs.length)]!;
        if (await fx.subs.isDue(s.id)) {
          const r = await send(fx.subs.connect(keepers[int(2)]).trigger(s.id));
          const [ev] = events(r, fx.subs, "RoundTriggered");
          if (ev !== undefined) requests.set(ev.args.requestId, { fee: s.fee, claimed: false, sub: subs.indexOf(s) });
        }
      } else if (action === 2) {
        const open = [];
        for (const id of requests.keys()) if (await open_(fx, conn, id)) open.push(id);
        const id = open[int(open.length)];
        if (id !== undefined && (await open_(fx, conn, id))) {
          await deliver(fx as unknown as SubsFx, id);
          seen.delivered++;
        }
      } else if (action === 3) {
        await conn.networkHelpers.time.increase(WINDOW + 1);
        const expired = [];
        for (const id of requests.keys()) if (Number(await fx.oracle.state(id)) === Status.Requested) expired.push(id);
        if (expired.length > 0) await send(fx.oracle.refundExpired(expired));
      } else if (action === 4) {
        for (const [id, r] of requests) {
          const refunded = Number(await fx.oracle.state(id)) === Status.Refunded;
          if (!refunded || Number((await fx.subs.getDelivery(id)).status) !== 1) continue;
          // An outsider claims the oracle refund first now and then: it still comes back to the subscription.
          if (int(2) === 0 && !r.claimed) {
            await send(fx.oracle.connect(fx.challenger).claimTokenRefund(id));
            seen.claimedFirst++;
          }
          r.claimed = true;
          await send(fx.subs.connect(keepers[int(2)]).sync(id));
          seen.synced++;
          break;
        }
      } else if (action === 5) {
        const s = subs[int(subs.length)]!;
        if (!s.closed) {
          await send(fx.subs.connect(s.owner).cancel(s.id));
          s.closed = true;
          seen.cancelled++;
        }
      } else if (action === 6) {
        const s = subs[int(subs.length)]!;
        const v = await fx.subs.getSubscription(s.id);
        if (v.cancelled || v.triggered >= v.maxDeliveries) await send(fx.subs.connect(s.owner).withdraw(s.id));
      } else {
        await conn.networkHelpers.time.increase(INTERVAL);
      }
      // Books after every step.
      await expectSubsTokenBooks(fx, subs.map((s) => s.id));
      const { held, owed } = await booksBalance(fx as unknown as SubsFx, subs.map((s) => s.id), keepers.map((k) => k.address));
      expect(held).toBe(owed);
      await expectOracleTokenBooks(fx, fx.token, accounts, requests);
      for (const owner of owners) {
        let accounted: bigint = await fx.token.balanceOf(owner.address);
        for (const s of subs.filter((x) => x.owner === owner)) accounted += (await fx.subs.getSubscription(s.id)).tokenBalance as bigint;
        for (const [id, r] of requests) {
          if (subs[r.sub]!.owner !== owner) continue;
          // Paid out, open, or refunded but not yet synced back: the owner's fee is with the oracle or its payees.
          if (Number((await fx.subs.getDelivery(id)).status) !== 3) accounted += r.fee;
        }
        // A refund synced but sitting in unattributed never happens: sync credits exactly what it pulled.
        expect(accounted, `owner ${owner.address} at step ${step}`).toBe(MINTED);
      }
    }
    expect(await fx.subs.unattributedToken(fx.tokenAddr)).toBe(0n);
    // The sequence exercised every path it checks.
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });

  it(`test_tokenChains_randomSequences_fundsConserved (${STEPS} steps)`, async () => {
    const conn: Connection = await network.create();
    const fx = await deployChainedToken(conn);
    const next = seededRandom(0xc4a1);
    const int = (n: number) => Math.floor(next() * n);
    const payers = [fx.requester, fx.other, fx.admin];
    const shapes = [[PRE_HASH], [PRE_HASH, MNIST_HASH], [PRE_HASH, SMOOTH_HASH, MNIST_HASH]];
    const chains: Array<{ id: bigint; payer: any; models: string[]; fees: bigint[] }> = [];
    const requests = new Map<string, { fee: bigint; claimed: boolean; chain: number }>();
    const accounts = [fx.modelOwner.address, fx.relayer.address, ...fx.ops.map((o) => o.address), fx.chainedAddr, fx.challenger.address];
    const seen = { answered: 0, advanced: 0, reconciled: 0, claimedFirst: 0, withdrawn: 0 };
    const track = async (c: number) => {
      const v = await fx.chained.getChain(chains[c]!.id);
      for (let i = 0; i < v.requestIds.length; i++) {
        if (!requests.has(v.requestIds[i])) requests.set(v.requestIds[i], { fee: chains[c]!.fees[i]!, claimed: false, chain: c });
      }
      return v;
    };
    for (let step = 0; step < STEPS; step++) {
      const action = chains.length === 0 ? 0 : int(7);
      const c = int(Math.max(1, chains.length));
      if (action === 0) {
        const payer = payers[int(payers.length)]!;
        const models = shapes[int(shapes.length)]!;
        const fees = models.map(() => TOKEN_FEE + BigInt(int(1000)));
        const { chainId } = await requestTokenChain(fx, models.map((m, i) => [m, Tier.NONE, fees[i]!]), { from: payer, deadline: BigInt(await conn.networkHelpers.time.latest()) + 3000n });
        chains.push({ id: chainId, payer, models, fees });
        await track(chains.length - 1);
      } else if (action === 1) {
        // A worker answers one of the steps it still may (running, before the step's deadline).
        const live = [];
        for (let i = 0; i < chains.length; i++) {
          const w = await fx.chained.getChain(chains[i]!.id);
          if (Number(w.status) === ChainStatus.Running && (await open_(fx, conn, w.requestId))) live.push(i);
        }
        const c = live[int(live.length)] ?? 0;
        const v = await track(c);
        if (Number(v.status) === ChainStatus.Running && (await open_(fx, conn, v.requestId))) {
          await answer(fx, v.requestId, chains[c]!.models[Number(v.current)] === MNIST_HASH ? LOGITS : SMALL);
          seen.answered++;
          // Advanced at once half the time (else left Ready for action 2, or to pass its deadline).
          if (int(2) === 0 && Number((await fx.chained.getChain(chains[c]!.id)).status) === ChainStatus.Ready) {
            await send(fx.chained.connect(fx.other).advance(chains[c]!.id, SMALL));
            await track(c);
            seen.advanced++;
          }
        }
      } else if (action === 2) {
        const v = await track(c);
        if (Number(v.status) === ChainStatus.Ready) {
          await send(fx.chained.connect(fx.other).advance(chains[c]!.id, SMALL));
          await track(c);
          seen.advanced++;
        }
      } else if (action === 3) {
        await conn.networkHelpers.time.increase(1100);
        const expired = [];
        for (const id of requests.keys()) if (Number(await fx.oracle.state(id)) === Status.Requested) expired.push(id);
        if (expired.length > 0) await send(fx.oracle.refundExpired(expired));
      } else if (action === 4) {
        const v = await track(c);
        const r = requests.get(v.requestId);
        const refunded = Number(v.status) === ChainStatus.Running && Number(await fx.oracle.state(v.requestId)) === Status.Refunded;
        if (refunded && int(2) === 0 && !r!.claimed) {
          await send(fx.oracle.connect(fx.challenger).claimTokenRefund(v.requestId));
          r!.claimed = true;
          seen.claimedFirst++;
        }
        const ready = Number(v.status) === ChainStatus.Ready && BigInt(await conn.networkHelpers.time.latest()) >= v.deadline;
        if (refunded || ready) {
          await send(fx.chained.connect(fx.challenger).reconcile(chains[c]!.id));
          if (r !== undefined && refunded) r.claimed = true;
          seen.reconciled++;
        }
      } else if (action === 5) {
        const p = payers[int(payers.length)]!;
        if ((await fx.chained.tokenBalanceOf(p.address, fx.tokenAddr)) > 0n) {
          await send(fx.chained.connect(p).withdrawToken(fx.tokenAddr));
          seen.withdrawn++;
        }
      } else {
        await conn.networkHelpers.time.increase(120);
      }
      await expectOracleTokenBooks(fx, fx.token, accounts, requests);
      for (const payer of payers) {
        let accounted: bigint = (await fx.token.balanceOf(payer.address)) + ((await fx.chained.tokenBalanceOf(payer.address, fx.tokenAddr)) as bigint);
        for (const [i, ch] of chains.entries()) {
          if (ch.payer !== payer) continue;
          const v = await fx.chained.getChain(ch.id);
          accounted += v.escrow as bigint;
          for (const [id, r] of requests) {
            if (r.chain !== i) continue;
            // A refunded step's fee is the payer's again once its chain ended (credited); until then it is owed at the oracle.
            const refundedBack = Number(await fx.oracle.state(id)) === Status.Refunded && Number(v.status) === ChainStatus.Ended;
            if (!refundedBack) accounted += r.fee;
          }
        }
        expect(accounted, `payer ${payer.address} at step ${step}`).toBe(MINTED);
      }
      // The chain contract holds exactly the credits of its payers (escrows were sent on to the oracle).
      let credited = 0n;
      for (const p of payers) credited += (await fx.chained.tokenBalanceOf(p.address, fx.tokenAddr)) as bigint;
      let escrow = 0n;
      for (const ch of chains) escrow += (await fx.chained.getChain(ch.id)).escrow as bigint;
      let claimedPending = 0n;
      for (const [id, r] of requests) {
        const v = await fx.chained.getChain(chains[r.chain]!.id);
        if (r.claimed && Number(v.status) === ChainStatus.Running && v.requestId === id) claimedPending += r.fee;
      }
      expect((await fx.token.balanceOf(fx.chainedAddr)) + ((await fx.oracle.tokenBalanceOf(fx.chainedAddr, fx.tokenAddr)) as bigint)).toBe(credited + escrow + claimedPending);
    }
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });
});
