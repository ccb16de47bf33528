/**
 * Large outputs (issue 18): the dApp picks the largest output its callback gets inline
 * (RequestParams.maxInlineOutput, 0 = the params' cap); a longer output is delivered as its hash only,
 * carried by its size proof ("VIOH" || header || dataRoot), the bytes at the blob store under the hash.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, events, expectRevert, expectSkipped, now, record, send, submission, tensorF32, FEE, INPUT_HASH, MODEL_HASH, OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier,
  type Connection, type Fx,
} from "./helpers.js";
import { decodeTensor, hashEncoded, encodeBundle, hashBundleEncoded, fromHex, readSizeProof, sizeProof, packBatch } from "../../protocol/index.js";

/** A det-like probability map: float32[1,1,64,64], 16,400 bytes, well above the 4,096-byte cap. */
export const MAP = tensorF32([1, 1, 64, 64], Array.from({ length: 64 * 64 }, (_, i) => (i % 7) / 7));
export const MAP_HASH = hashEncoded(MAP);

describe("InferenceOracle: large outputs", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  async function dapp(fx: Fx, tier: number) {
    const d: any = await fx.ethers.deployContract("LargeOutputDApp", [fx.oracleAddr, MODEL_HASH, MODEL_HASH, tier, 200_000]);
    const ask = async (fn: "detect" | "classify") => {
      const receipt = await send(d.connect(fx.requester)[fn](INPUT_HASH, "ipfs://page.png", (await now(fx)) + 86_400n, { value: FEE }));
      return events(receipt, fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    };
    return { d, ask };
  }

  it("test_sizeProof_matchesTheTensorHash", () => {
    const p = readSizeProof(sizeProof(MAP));
    expect(p.outputHash).toBe(MAP_HASH);
    expect(p.encodedBytes).toBe(MAP.byteLength);
    expect(p.shape).toEqual([1, 1, 64, 64]);
  });

  it("test_getRequest_maxInlineOutput_defaultIsTheCap_oneIsHashOnly", async () => {
    const fx = await fixture();
    const { ask } = await dapp(fx, Tier.NONE);
    expect(Number((await fx.oracle.getRequest(await ask("classify"))).maxInlineOutput)).toBe(PARAMS.maxInlineOutputBytes);
    expect(Number((await fx.oracle.getRequest(await ask("detect"))).maxInlineOutput)).toBe(1);
  });

  it("test_submitBatch_none_largeOutputBySizeProof_deliversHashOnly", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    const id = await ask("detect");
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: sizeProof(MAP) }))));
    const [ev] = events(receipt, fx.oracle, "RequestFulfilled");
    expect(ev!.args.outputDelivered).toBe(false);
    expect(ev!.args.callbackSucceeded).toBe(true);
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.outputHash, got.output]).toEqual([true, false, MAP_HASH, "0x"]);
  });

  it("test_submitBatch_none_smallOutputInline_deliversBytes", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    const id = await ask("classify");
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: OUTPUT }))));
    expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.outputDelivered).toBe(true);
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.outputHash, got.output]).toEqual([true, true, OUTPUT_HASH, "0x" + OUTPUT.toString("hex")]);
  });

  it("test_submitBatch_none_outputAboveRequestThreshold_inlineSkipped", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    // detect wants the hash only: even a 24-byte output may not come inline ...
    const id = await ask("detect");
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: OUTPUT }))), fx.oracle, "OracleOutputTooLarge");
    expect(Number(await fx.oracle.state(id))).toBe(Status.Requested);
    // ... but as its size proof.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: sizeProof(OUTPUT) }))));
    expect((await d.delivery(id)).isInline).toBe(false);
  });

  it("test_settle_optimistic_largeOutput_sizeProofSettlesHashOnly_bytesRefused", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.OPTIMISTIC);
    const id = await ask("detect");
    // No calldata for the map at submission: challengers fetch it (or recompute it) by its hash.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const rec = record(fx.ops[0]!.address, fx.relayer.address, MAP_HASH);
    await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: MAP, proof: [] }), fx.oracle, "OracleOutputTooLarge");
    await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "OracleOutputMissing");
    const receipt = await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: sizeProof(MAP), proof: [] }));
    expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.outputDelivered).toBe(false);
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.outputHash]).toEqual([true, false, MAP_HASH]);
  });

  it("test_submitBatch_optimistic_sizeProofAboveCap_accepted_noCallbackAtSubmission", async () => {
    const fx = await fixture();
    const { ask } = await dapp(fx, Tier.OPTIMISTIC);
    const id = await ask("classify");
    // An OPTIMISTIC submission checks against the params' cap: the map's proof is valid there.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: sizeProof(MAP) }))));
    expect(Number(await fx.oracle.state(id))).toBe(Status.Submitted);
  });

  it("test_sizeProof_bundle_opensTheBundleHash_deliversHashOnly", async () => {
    const bundle = encodeBundle({ map: decodeTensor(MAP), score: decodeTensor(OUTPUT) });
    const bundleHash = hashBundleEncoded(bundle);
    const p = readSizeProof(sizeProof(bundle));
    expect([p.outputHash, p.encodedBytes]).toEqual([bundleHash, bundle.byteLength]);
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    const id = await ask("detect");
    // A proof with one entry's root changed opens another bundle hash.
    const forged = fromHex(sizeProof(bundle));
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: bundleHash, output: forged }))), fx.oracle, "OracleOutputHashMismatch");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: bundleHash, output: sizeProof(bundle) }))));
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.outputHash]).toEqual([true, false, bundleHash]);
    // A small bundle, under the default threshold (4,096), must come inline.
    const small = encodeBundle({ a: decodeTensor(OUTPUT), b: decodeTensor(OUTPUT) });
    const id2 = await ask("classify");
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id2, fx.signers[0]!, { outputHash: hashBundleEncoded(small), output: sizeProof(small) }))), fx.oracle, "OracleOutputInlineRequired");
  });

  it("test_gas_inlineVsHashOnly", async () => {
    const fx = await fixture();
    const { ask } = await dapp(fx, Tier.NONE);
    const small = await ask("classify");
    const inline = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, small, fx.signers[0]!, { output: OUTPUT }))));
    const big = await ask("detect");
    const hashOnly = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, big, fx.signers[0]!, { outputHash: MAP_HASH, output: sizeProof(MAP) }))));
    console.log(`gas: NONE delivery, 24 B inline ${inline.gasUsed}; 16,400 B as hash only (size proof) ${hashOnly.gasUsed}`);
    expect(hashOnly.gasUsed).toBeLessThan(inline.gasUsed + 20_000n);
  });
});
