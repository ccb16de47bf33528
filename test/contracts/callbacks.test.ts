import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, expectRevert, events, request, send, submission, record, now, tensorF32,
  FEE, MODEL_FEE, MODEL_HASH, OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier, INPUT_HASH, type Connection, type Fx,
} from "./helpers.js";
import { hashEncoded, packBatch } from "../../protocol/index.js";

const Mode = { Honest: 0, Revert: 1, BurnGas: 2, ReturnBomb: 3, Reenter: 4, ReenterAndRecord: 5 } as const;
const CALLBACK_GAS = 200_000;

describe("InferenceOracle: callback safety and consumers", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  async function consumerFlow(fx: Fx, mode: number, tier: number, gas = CALLBACK_GAS) {
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, mode]);
    const { id } = await request(fx, { via: consumer, tier, callbackGasLimit: gas });
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    let receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 2_000_000 }));
    if (tier === Tier.OPTIMISTIC) {
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      const rec = record(fx.ops[0]!.address, fx.relayer.address);
      receipt = await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: OUTPUT, proof: [] }, { gasLimit: 2_000_000 }));
    }
    const [ev] = events(receipt, fx.oracle, "RequestFulfilled");
    return { consumer, id, receipt, ev: ev! };
  }

  for (const tier of [Tier.NONE, Tier.OPTIMISTIC]) {
    const t = tier === Tier.NONE ? "none" : "optimistic";
    it(`test_settle_${t}_honestConsumer_getsExactGas`, async () => {
      const fx = await fixture();
      const { consumer, ev } = await consumerFlow(fx, Mode.Honest, tier);
      expect(ev.args.callbackSucceeded).toBe(true);
      expect(ev.args.outputDelivered).toBe(true);
      expect(await consumer.results()).toBe(1n);
      expect(await consumer.lastOutputHash()).toBe(OUTPUT_HASH);
      // The callee started with (almost) exactly the requested gas: not less, never more.
      const atEntry = await consumer.lastGasAtEntry();
      expect(atEntry).toBeLessThanOrEqual(BigInt(CALLBACK_GAS));
      expect(atEntry).toBeGreaterThan(BigInt(CALLBACK_GAS - 1_000));
    });

    for (const [name, mode] of [["reverting", Mode.Revert], ["gasBurning", Mode.BurnGas], ["returnBomb", Mode.ReturnBomb], ["reentrant", Mode.Reenter]] as const) {
      it(`test_settle_${t}_${name}Consumer_stillSettles`, async () => {
        const fx = await fixture();
        const { consumer, ev, id, receipt } = await consumerFlow(fx, mode, tier);
        expect(ev.args.callbackSucceeded).toBe(false);
        expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
        expect(await consumer.results()).toBe(0n);
        // The callback's gas fee (priced at request time) goes to whoever executed the callback: the
        // relayer for NONE (it submitted), the settler for OPTIMISTIC; the rest is split as usual.
        const callbackFee: bigint = (await fx.oracle.getRequest(id)).callbackFee;
        expect(callbackFee >= BigInt(CALLBACK_GAS) * PARAMS.minGasPrice).toBe(true);
        const rest = FEE - MODEL_FEE - callbackFee;
        const relayerCut = (rest * BigInt(PARAMS.relayerFeeBps)) / 10_000n;
        expect(await fx.oracle.balanceOf(fx.ops[0]!.address)).toBe(rest - relayerCut);
        expect(await fx.oracle.balanceOf(fx.modelOwner.address)).toBe(MODEL_FEE);
        if (tier === Tier.NONE) {
          expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(relayerCut + callbackFee);
        } else {
          expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(relayerCut);
          expect(await fx.oracle.balanceOf(fx.other.address)).toBe(callbackFee);
        }
        // The callback's cost is bounded by its limit, whatever it does.
        expect(receipt.gasUsed).toBeLessThan(BigInt(CALLBACK_GAS) + 200_000n);
      });
    }
  }

  it("test_callback_reentry_isRefusedByGuard", async () => {
    const fx = await fixture();
    const { consumer, ev } = await consumerFlow(fx, Mode.ReenterAndRecord, Tier.NONE);
    expect(ev.args.callbackSucceeded).toBe(true);
    expect(await consumer.reentrySucceeded()).toBe(false);
    expect(await consumer.reentryError()).toBe(fx.oracle.interface.getError("ReentrancyGuardReentrantCall")!.selector);
  });

  it("test_settle_tooLittleGasForCallback_reverts", async () => {
    const fx = await fixture();
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, Mode.Honest]);
    const { id } = await request(fx, { via: consumer, tier: Tier.OPTIMISTIC, callbackGasLimit: 500_000 });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const settlement = { requestId: id, record: record(fx.ops[0]!.address, fx.relayer.address), output: OUTPUT, proof: [] };
    const [available, required] = await expectRevert(fx.oracle.settle(settlement, { gasLimit: 300_000 }), fx.oracle, "OracleInsufficientGasForCallback");
    expect(required as bigint).toBe((500_000n * 64n) / 63n + 40_000n);
    expect(available as bigint).toBeLessThan(required as bigint);
    // Same for a settlement inside a batch: the whole transaction reverts rather than failing the callback.
    await expectRevert(fx.oracle.settleMany([settlement], { gasLimit: 300_000 }), fx.oracle, "OracleInsufficientGasForCallback");
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    const receipt = await send(fx.oracle.settle(settlement, { gasLimit: 800_000 }));
    expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.callbackSucceeded).toBe(true);
  });

  it("test_submitBatch_none_tooLittleGasForCallback_reverts", async () => {
    const fx = await fixture();
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, Mode.Honest]);
    const { id } = await request(fx, { via: consumer, tier: Tier.NONE, callbackGasLimit: 500_000 });
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 300_000 }), fx.oracle, "OracleInsufficientGasForCallback");
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
  });

  it("test_refund_gasBurningConsumer_fallsBackToPullBalance", async () => {
    const fx = await fixture();
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, Mode.BurnGas]);
    const t = await now(fx);
    const { id } = await request(fx, { via: consumer, deadline: t + 60n, callbackGasLimit: 100_000 });
    await conn.networkHelpers.time.increase(60);
    const receipt = await send(fx.oracle.refundExpired([id], { gasLimit: 1_000_000 }));
    expect(events(receipt, fx.oracle, "RequestRefunded")[0]!.args.pushed).toBe(false);
    expect(await fx.oracle.balanceOf(await consumer.getAddress())).toBe(FEE);
  });

  it("test_refund_honestConsumer_receivesPush", async () => {
    const fx = await fixture();
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, Mode.Honest]);
    const t = await now(fx);
    const { id } = await request(fx, { via: consumer, deadline: t + 60n });
    await conn.networkHelpers.time.increase(60);
    const receipt = await send(fx.oracle.refundExpired([id]));
    expect(events(receipt, fx.oracle, "RequestRefunded")[0]!.args.pushed).toBe(true);
    expect(await consumer.refunds()).toBe(1n);
    expect(await fx.ethers.provider.getBalance(await consumer.getAddress())).toBe(FEE);
  });

  describe("TextDirectionDApp", () => {
    async function dapp(fx: Fx) {
      const d = await fx.ethers.deployContract("TextDirectionDApp", [fx.oracleAddr, MODEL_HASH, Tier.OPTIMISTIC, 150_000]);
      return d;
    }

    async function classify(fx: Fx, d: any, deadlineIn = 86_400n) {
      const receipt = await send(d.connect(fx.requester).classify(INPUT_HASH, "ipfs://line.png", (await now(fx)) + deadlineIn, { value: FEE }));
      return events(receipt, fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    }

    async function serve(fx: Fx, id: string, output: Buffer | string, outputHash: string) {
      await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash }))));
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      const rec = record(fx.ops[0]!.address, fx.relayer.address, outputHash);
      return send(fx.oracle.settle({ requestId: id, record: rec, output, proof: [] }));
    }

    it("test_classify_rotatedOutput_recordsRotated180", async () => {
      const fx = await fixture();
      const d = await dapp(fx);
      const id = await classify(fx, d);
      expect(await d.requesterOf(id)).toBe(fx.requester.address);
      const out = tensorF32([1, 2], [0.2, 0.8]);
      const receipt = await serve(fx, id, out, hashEncoded(out));
      expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.callbackSucceeded).toBe(true);
      const [ev] = events(receipt, d, "ClassificationReceived");
      expect(ev!.args.rotated180).toBe(true);
      expect(ev!.args.outputHash).toBe(hashEncoded(out));
      const c = await d.classification(id);
      expect(c.received).toBe(true);
      expect(c.decoded).toBe(true);
      expect(c.rotated180).toBe(true);
      expect(await d.resultCount()).toBe(1n);
    });

    it("test_classify_uprightOutput_recordsNotRotated", async () => {
      const fx = await fixture();
      const d = await dapp(fx);
      const id = await classify(fx, d);
      await serve(fx, id, OUTPUT, OUTPUT_HASH); // [0.9, 0.1]
      const c = await d.classification(id);
      expect(c.decoded).toBe(true);
      expect(c.rotated180).toBe(false);
      // The raw float bits are kept: 0.9f = 0x3f666666.
      expect(c.prob0Bits).toBe(0x3f666666n);
    });

    it("test_classify_outputNotInline_recordsHashOnly", async () => {
      const fx = await fixture();
      const d = await dapp(fx);
      const id = await classify(fx, d);
      // Without the output bytes, only once the output grace (1 day after the window) is over.
      await expectRevert(serve(fx, id, "0x", OUTPUT_HASH), fx.oracle, "OracleOutputMissing");
      await conn.networkHelpers.time.increase(86_400);
      const rec = record(fx.ops[0]!.address, fx.relayer.address, OUTPUT_HASH);
      await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
      const c = await d.classification(id);
      expect(c.received).toBe(true);
      expect(c.decoded).toBe(false);
      expect(c.outputHash).toBe(OUTPUT_HASH);
    });

    it("test_classify_expired_countsRefund", async () => {
      const fx = await fixture();
      const d = await dapp(fx);
      const id = await classify(fx, d, 100n);
      await conn.networkHelpers.time.increase(100);
      const receipt = await send(fx.oracle.refundExpired([id]));
      expect(events(receipt, fx.oracle, "RequestRefunded")[0]!.args.pushed).toBe(true);
      expect(events(receipt, d, "RequestRefunded")[0]!.args.reason).toBe(0n);
      expect(await d.refundCount()).toBe(1n);
      expect(await fx.ethers.provider.getBalance(await d.getAddress())).toBe(FEE);
    });

    it("test_consumer_notOracle_reverts", async () => {
      const fx = await fixture();
      const d = await dapp(fx);
      await expectRevert(d.connect(fx.other).onInferenceResult("0x" + "00".repeat(32), OUTPUT_HASH, "0x"), d, "ConsumerOnlyOracle", [fx.other.address]);
      await expectRevert(d.connect(fx.other).onInferenceRefunded("0x" + "00".repeat(32), 0), d, "ConsumerOnlyOracle");
      await expectRevert(fx.other.sendTransaction({ to: await d.getAddress(), value: 1n }), d, "ConsumerOnlyOracle");
    });
  });
});
