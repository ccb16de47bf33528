/**
 * Attacks on ERC-20 fees (IOracleTokenFees, TokenFees; docs/FEATURES.md "ERC-20 fees"), each shown to fail:
 * - a griefer front-runs a request's permit (spends its nonce) to make the request revert;
 * - a thief uses someone else's permit to pay for its own request;
 * - a fee-on-transfer token would leave the oracle short of what it escrows;
 * - a token that reverts (blacklist, freeze) tries to block a settlement or a refund;
 * - an ERC-777-like token re-enters the oracle while it pulls the fee;
 * - a requester pays with a token the model does not accept; the owner removes a token mid-request.
 * Plus randomized funds conservation with two tokens and ETH: per token, the oracle's balance is the sum
 * of the pull balances, the open requests' amounts and the refunds not yet claimed.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, deployToken, acceptToken, expectRevert, tokenRequest, request, send, submission, record, now, rejection,
  INPUT_HASH, PARAMS, Ruling, Status, Tier, MODEL_HASH, TOKEN_FEE, TOKEN_OWNER_FEE,
  type Connection, type Fx,
} from "../contracts/helpers.js";
import { signPermit, encodePermit, seededRandom, packBatch } from "../../protocol/index.js";

describe("attack: ERC-20 fees", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_attack_frontRunPermit_requestStillGoesThrough", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const permit = await signPermit(fx.requester, token.target, fx.oracleAddr, TOKEN_FEE, (await now(fx)) + 3600n);
    // The griefer copies the permit from the mempool and submits it to the token first.
    await send(token.connect(fx.other).permit(fx.requester.address, fx.oracleAddr, permit.value, permit.deadline, permit.v, permit.r, permit.s));
    const { id } = await tokenRequest(fx, token, { permit: encodePermit(permit) });
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect(await token.balanceOf(fx.oracleAddr)).toBe(TOKEN_FEE);
  });

  it("test_attack_stolenPermit_cannotPayForAnotherRequester", async () => {
    const fx = await fixture();
    const token = await deployToken(fx);
    const permit = await signPermit(fx.requester, token.target, fx.oracleAddr, TOKEN_FEE, (await now(fx)) + 3600n);
    await send(token.connect(fx.other).approve(fx.oracleAddr, 0n));
    // The permit binds its owner: the oracle applies it for msg.sender only, so the thief's request fails.
    await expectRevert(tokenRequest(fx, token, { from: fx.other, permit: encodePermit(permit) }), fx.oracle, "OracleTokenPermitFailed", [token.target, 0n, TOKEN_FEE]);
    // Even after the thief submits the permit itself, the allowance is the victim's, never the thief's.
    await send(token.connect(fx.other).permit(fx.requester.address, fx.oracleAddr, permit.value, permit.deadline, permit.v, permit.r, permit.s));
    await expectRevert(tokenRequest(fx, token, { from: fx.other, permit: encodePermit(permit) }), fx.oracle, "OracleTokenPermitFailed", [token.target, 0n, TOKEN_FEE]);
    expect(await token.balanceOf(fx.oracleAddr)).toBe(0n);
  });

  it("test_attack_feeOnTransferToken_refused", async () => {
    const fx = await fixture();
    const token = await deployToken(fx, "FeeOnTransferToken");
    await expectRevert(tokenRequest(fx, token), fx.oracle, "OracleTokenFeeOnTransfer", [token.target, TOKEN_FEE, TOKEN_FEE - TOKEN_FEE / 100n]);
    expect(await token.balanceOf(fx.oracleAddr)).toBe(0n);
  });

  it("test_attack_blacklistingToken_cannotBlockSettlementOrRefund", async () => {
    const fx = await fixture();
    const token = await deployToken(fx, "BlacklistToken");
    const { id: served } = await tokenRequest(fx, token);
    const { id: expiring } = await tokenRequest(fx, token, { deadline: (await now(fx)) + 600n });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, served, fx.signers[0]!))));
    // The requester, worker, relayer and owner are blacklisted, then the token freezes altogether.
    for (const a of [fx.requester, fx.ops[0]!, fx.relayer, fx.modelOwner]) await send(token.setBlacklisted(a.address, true));
    await send(token.setFrozen(true));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await send(fx.oracle.settle({ requestId: served, record: record(fx.ops[0]!.address, fx.relayer.address), output: "0x", proof: [] }));
    expect(await fx.oracle.state(served)).toBe(BigInt(Status.Fulfilled));
    await conn.networkHelpers.time.increase(600);
    await send(fx.oracle.refundExpired([expiring]));
    await send(fx.oracle.claimTokenRefund(expiring));
    expect(await fx.oracle.state(expiring)).toBe(BigInt(Status.Refunded));
    expect(await fx.oracle.tokenBalanceOf(fx.requester.address, token.target)).toBe(TOKEN_FEE);
    // Only the blacklisted account's own withdrawal fails, and its balance stays owed.
    await expectRevert(fx.oracle.connect(fx.requester).withdrawToken(token.target), token, "Error");
    await send(token.setFrozen(false));
    await send(token.setBlacklisted(fx.relayer.address, false));
    await send(fx.oracle.connect(fx.relayer).withdrawToken(token.target));
    expect(await fx.oracle.tokenBalanceOf(fx.requester.address, token.target)).toBe(TOKEN_FEE);
  });

  it("test_attack_erc777LikeHook_cannotReenterDuringTheFeePull", async () => {
    const fx = await fixture();
    const token = await deployToken(fx, "HookToken");
    const attacker: any = await fx.ethers.deployContract("TokenReentrant", [fx.oracleAddr, token.target]);
    await send(token.mint(attacker.target, 10n ** 12n));
    const guard = fx.oracle.interface.getError("ReentrancyGuardReentrantCall")!.selector;
    const p = { modelHash: MODEL_HASH, inputHash: INPUT_HASH, input: "0x", inputURI: "ipfs://input", tier: Tier.OPTIMISTIC, callbackGasLimit: 0, deadline: (await now(fx)) + 3600n, maxInlineOutput: 0 };
    for (const mode of [1, 2, 3]) {
      await send(attacker.request(p, TOKEN_FEE, mode));
      expect(await attacker.reentered(), `mode ${mode}`).toBe(false);
      expect(await attacker.reentryError(), `mode ${mode}`).toBe(guard);
    }
    // Three requests, each escrowing exactly its fee; nothing else moved.
    expect(await token.balanceOf(fx.oracleAddr)).toBe(3n * TOKEN_FEE);
  });

  it("test_attack_unacceptedOrRemovedToken_refusedForNewRequestsOnly", async () => {
    const fx = await fixture();
    const accepted = await deployToken(fx);
    const stranger = await deployToken(fx, "TestPermitToken", false);
    await expectRevert(tokenRequest(fx, stranger), fx.oracle, "OracleTokenNotAccepted", [MODEL_HASH, stranger.target]);
    const { id } = await tokenRequest(fx, accepted, { tier: Tier.NONE });
    await acceptToken(fx, accepted.target, 0n, 0n, false);
    await expectRevert(tokenRequest(fx, accepted), fx.oracle, "OracleTokenNotAccepted", [MODEL_HASH, accepted.target]);
    // The request made before the removal is served and paid on its own terms.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))));
    expect(await fx.oracle.tokenBalanceOf(fx.modelOwner.address, accepted.target)).toBe(TOKEN_OWNER_FEE);
  });

  const ROUNDS = Number(process.env.TOKEN_ROUNDS ?? 24);
  it(`test_tokenAndEthRequests_randomOutcomes_fundsConservedPerToken (${ROUNDS} rounds)`, async () => {
    const fx = await fixture();
    const next = seededRandom(0x20e20);
    const int = (n: number) => Math.floor(next() * n);
    const tokens = [await deployToken(fx), await deployToken(fx, "NoBoolToken")];
    const requesters = [fx.requester, fx.other];
    const tracked = [fx.requester, fx.other, fx.modelOwner, fx.relayer, fx.challenger, ...fx.ops];
    const all: { id: string; token?: any; claimed: boolean }[] = [];
    let openBonds = 0n;

    const check = async (where: string) => {
      for (const token of tokens) {
        let pulls = 0n;
        for (const a of tracked) pulls += await fx.oracle.tokenBalanceOf(a.address, token.target);
        let escrow = 0n;
        for (const r of all) {
          if (r.token !== token) continue;
          const st = Number(await fx.oracle.state(r.id));
          const open = st >= Status.Requested && st <= Status.Challenged;
          if (open || (st === Status.Refunded && !r.claimed)) escrow += TOKEN_FEE;
        }
        expect(await token.balanceOf(fx.oracleAddr), `token conservation ${where}`).toBe(pulls + escrow);
      }
      let stakes = 0n;
      for (const op of fx.ops) stakes += (await fx.oracle.getWorker(op.address)).stake;
      let pulls = 0n;
      for (const a of tracked) pulls += await fx.oracle.balanceOf(a.address);
      let escrow = 0n;
      for (const r of all) {
        const v = await fx.oracle.getRequest(r.id);
        const st = Number(v.status);
        const wei = r.token ? v.callbackFee : v.fee;
        if ((st >= Status.Requested && st <= Status.Challenged) || (r.token && st === Status.Refunded && !r.claimed)) escrow += wei;
      }
      const burned = await fx.oracle.totalBurned();
      expect(await fx.ethers.provider.getBalance(fx.oracleAddr), `wei conservation ${where}`).toBe(stakes + escrow + openBonds + pulls + burned);
    };

    for (let round = 0; round < ROUNDS; round++) {
      const from = requesters[int(2)]!;
      const useToken = int(3) !== 0;
      const token = useToken ? tokens[int(2)]! : undefined;
      const tier = int(2) === 0 ? Tier.NONE : Tier.OPTIMISTIC;
      const deadline = (await now(fx)) + 2000n;
      const { id } = token
        ? await tokenRequest(fx, token, { from, tier, deadline, amount: TOKEN_FEE })
        : await request(fx, { from, tier, deadline });
      all.push({ id, token, claimed: false });
      const w = int(3);
      const outcome = int(5);
      if (outcome === 0) {
        // Expires unserved.
        await conn.networkHelpers.time.increase(2001);
        await send(fx.oracle.refundExpired([id]));
      } else if (outcome === 1) {
        // Rejected by a quorum.
        await send(fx.oracle.connect(fx.relayer).rejectRequest(id, 1, await rejection(fx, id, fx.signers[0]!)));
        await send(fx.oracle.connect(fx.relayer).rejectRequest(id, 1, await rejection(fx, id, fx.signers[1]!)));
      } else {
        await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[w]!))));
        if (tier === Tier.OPTIMISTIC) {
          const rec = record(fx.ops[w]!.address, fx.relayer.address);
          if (outcome === 4) {
            await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
            openBonds += PARAMS.challengeBond;
            await check(`round ${round} challenged`);
            const ruling = [Ruling.WorkerRight, Ruling.WorkerFault, Ruling.OutputMinor][int(3)]!;
            await send(fx.resolver.connect(fx.arbiter).rule(id, ruling));
            openBonds -= PARAMS.challengeBond;
            if (ruling !== Ruling.WorkerRight) await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
            if (Number(await fx.oracle.state(id)) === Status.Requested) {
              // Reopened: another worker answers and it settles.
              const w2 = (w + 1) % 3;
              await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[w2]!))));
              await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
              await send(fx.oracle.settle({ requestId: id, record: record(fx.ops[w2]!.address, fx.relayer.address), output: "0x", proof: [] }));
            } else {
              // WorkerRight: the bond went to the worker side; the result settles.
              await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
              if (Number(await fx.oracle.state(id)) === Status.Submitted) {
                await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
              }
            }
          } else {
            await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
            await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
          }
        }
      }
      await check(`round ${round}`);
      // Claim some refunds and withdraw some balances along the way.
      for (const r of all) {
        if (r.token && !r.claimed && Number(await fx.oracle.state(r.id)) === Status.Refunded && int(2) === 0) {
          await send(fx.oracle.claimTokenRefund(r.id));
          r.claimed = true;
        }
      }
      const who = tracked[int(tracked.length)]!;
      for (const token of tokens) {
        if ((await fx.oracle.tokenBalanceOf(who.address, token.target)) > 0n) await send(fx.oracle.connect(who).withdrawToken(token.target));
      }
      await check(`round ${round} after withdrawals`);
    }
    // At the end everyone claims and withdraws: the oracle holds no tokens.
    for (const r of all) {
      if (r.token && !r.claimed && Number(await fx.oracle.state(r.id)) === Status.Refunded) {
        await send(fx.oracle.claimTokenRefund(r.id));
        r.claimed = true;
      }
    }
    for (const a of tracked) for (const token of tokens) {
      if ((await fx.oracle.tokenBalanceOf(a.address, token.target)) > 0n) await send(fx.oracle.connect(a).withdrawToken(token.target));
    }
    await check("end");
    for (const token of tokens) expect(await token.balanceOf(fx.oracleAddr)).toBe(0n);
  });
});
