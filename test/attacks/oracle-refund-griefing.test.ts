/**
 * Issue 12, finding 7 ("refund griefing"). Before: a refund push ran with the requester's own
 * callbackGasLimit, which the fee did not price, so three gas-burning requesters (callbackGasLimit at
 * the maximum) cost whoever called refundExpired 3.1M gas and still got their whole fee back.
 * Now: a refund push gets a fixed stipend (REFUND_GAS = 50,000) and a failed push credits the pull
 * balance; the callback's gas is priced into the minimum fee (callbackGasLimit x max(basefee,
 * minGasPrice)) and paid to whoever executes the callback.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, expectRevert, events, request, requestParams, send, now, record, submission,
  FEE, MODEL_FEE, OUTPUT, PARAMS, Tier, type Connection,
} from "../contracts/helpers.js";
import { packBatch } from "../../protocol/index.js";

const BURN_GAS = 2; // MaliciousConsumer.Mode.BurnGas
const MAX_CALLBACK = PARAMS.maxCallbackGasLimit;

describe("attack: refund griefing (finding 7)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_refundExpired_threeGasBurners_costBoundedByStipend_succeeds", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const ids: string[] = [];
    const burners: string[] = [];
    // Each griefer pays the callback's gas up front now: it is part of the minimum fee.
    const fee = FEE + BigInt(MAX_CALLBACK) * 10n ** 10n;
    for (let i = 0; i < 3; i++) {
      const burner = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, BURN_GAS]);
      burners.push(await burner.getAddress());
      ids.push((await request(fx, { via: burner, deadline: t + 100n, callbackGasLimit: MAX_CALLBACK, fee })).id);
    }
    await conn.networkHelpers.time.increase(100);
    const receipt = await send(fx.oracle.connect(fx.other).refundExpired(ids, { gasLimit: 5_000_000 }));
    // Each push burns at most its stipend (50,000) plus the oracle's own bookkeeping (status write,
    // pull-balance credit, value-call overhead: ~54,000): 312k in all here, against 3.1M before.
    expect(receipt.gasUsed).toBeLessThan(3n * 110_000n);
    const refunds = events(receipt, fx.oracle, "RequestRefunded");
    expect(refunds.map((e) => e.args.pushed)).toEqual([false, false, false]);
    // The griefers lose nothing they are owed (pull balance), and gain nothing either.
    for (const b of burners) expect(await fx.oracle.balanceOf(b)).toBe(fee);
  });

  it("test_requestInference_callbackGasNotPaidFor_reverts", async () => {
    const fx = await fixture();
    const p = await requestParams(fx, { callbackGasLimit: MAX_CALLBACK });
    // The old minimum (owner fee + worker fee) no longer buys a 1M-gas callback.
    const oldMinimum = MODEL_FEE + PARAMS.minWorkerFee;
    const [fee, minimum] = (await expectRevert(
      fx.oracle.connect(fx.requester).requestInference(p, { value: oldMinimum }),
      fx.oracle,
      "OracleFeeTooLow",
    )) as bigint[];
    expect(fee).toBe(oldMinimum);
    expect(minimum! >= oldMinimum + BigInt(MAX_CALLBACK) * PARAMS.minGasPrice).toBe(true);
  });

  it("test_settle_callbackExecutorIsPaidForTheCallbackGas_succeeds", async () => {
    const fx = await fixture();
    const burner = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, BURN_GAS]);
    const fee = FEE + BigInt(MAX_CALLBACK) * 10n ** 10n;
    const { id, receipt: requested } = await request(fx, { via: burner, tier: Tier.OPTIMISTIC, callbackGasLimit: MAX_CALLBACK, fee });
    const callbackFee: bigint = (await fx.oracle.getRequest(id)).callbackFee;
    const baseFee = (await fx.ethers.provider.getBlock(requested.blockNumber))!.baseFeePerGas!;
    expect(callbackFee).toBe(BigInt(MAX_CALLBACK) * (baseFee > PARAMS.minGasPrice ? baseFee : PARAMS.minGasPrice));
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: OUTPUT }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    // Whoever settles runs the requester's 1M-gas callback and is paid for that gas.
    const settlement = { requestId: id, record: record(fx.ops[0]!.address, fx.relayer.address), output: OUTPUT, proof: [] };
    const receipt = await send(fx.oracle.connect(fx.other).settle(settlement, { gasLimit: 2_000_000 }));
    expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.callbackSucceeded).toBe(false);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(callbackFee);
    // ... and the worker and relayer split only what is left after the owner and the callback.
    const rest = fee - MODEL_FEE - callbackFee;
    const relayerCut = (rest * BigInt(PARAMS.relayerFeeBps)) / 10_000n;
    expect(await fx.oracle.balanceOf(fx.ops[0]!.address)).toBe(rest - relayerCut);
  });
});
