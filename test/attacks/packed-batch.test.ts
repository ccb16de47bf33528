/**
 * The packed result batch (contracts/libraries/PackedBatch.sol, protocol/batch-wire.ts): `submitBatch(payee,
 * signature, packed)` reads fixed-width item headers straight from calldata, and logs one
 * ResultBatchSubmitted with a 71-byte record per accepted result. Attacks on that form, on the real oracle:
 * - malformed or truncated packed bytes (a cut header, a length past the end, trailing bytes, nothing);
 * - a duplicated item inside one signed batch, and the same batch sent twice;
 * - a batch signed for another chain or another oracle (same worker, same stake);
 * - a signature over other bytes than those sent (a changed hash, a dropped item, swapped outputs);
 * - an oversized batch.
 * Each reverts cleanly (nothing changes) or is skipped item by item, and no one's funds move but for the
 * results that were signed and are valid.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { hexlify, randomBytes } from "ethers";
import {
  deploy, events, submittedOf, expectRevert, expectSkipped, request, send, submission, batchSubmission,
  OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier, tensorF32, type Connection, type Fx,
} from "../contracts/helpers.js";
import { oracleDomain, deployInferenceOracle, ITEM_HEADER_BYTES, MAX_PACKED_ITEMS, packBatch, packItems, hashEncoded } from "../../protocol/index.js";

const OTHER = tensorF32([1, 2], [0.2, 0.8]);

describe("attack: the packed result batch", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  const raw = (fx: Fx, payee: string, signature: string, packed: string) => fx.oracle.connect(fx.relayer).submitBatch(payee, signature, packed);

  /** What must not move when a batch is refused: every request still open, no bond locked, the oracle's wei. */
  async function unchanged(fx: Fx, ids: string[], balance: bigint) {
    for (const id of ids) expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    for (const op of fx.ops) expect((await fx.oracle.getWorker(op.address)).openResults).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.oracleAddr)).toBe(balance);
  }

  it("test_submitBatch_malformedPackedBytes_reverts", async () => {
    const fx = await fixture();
    const ids = [(await request(fx)).id, (await request(fx)).id];
    const sub = await batchSubmission(fx, ids, fx.signers[0]!);
    const [payee, signature, packed] = packBatch(sub);
    const balance = await fx.ethers.provider.getBalance(fx.oracleAddr);
    const bytes = (packed.length - 2) / 2;
    const second = ITEM_HEADER_BYTES;
    // Header of the second item cut short; trailing bytes after the last item; nothing at all.
    await expectRevert(raw(fx, payee, signature, packed.slice(0, -2)), fx.oracle, "OracleMalformedBatch", [second]);
    await expectRevert(raw(fx, payee, signature, `${packed}00`), fx.oracle, "OracleMalformedBatch", [bytes]);
    await expectRevert(raw(fx, payee, signature, "0x"), fx.oracle, "OracleEmptyBatch");
    // A length that announces more bytes than follow (up to the uint24 maximum): refused before any is read.
    for (const len of ["000001", "ffffff"]) {
      const lying = `${packed.slice(0, 2 + 2 * 64)}${len}${packed.slice(2 + 2 * 67)}`;
      // A first item one byte longer leaves the second one byte short.
      await expectRevert(raw(fx, payee, signature, lying), fx.oracle, "OracleMalformedBatch", [len === "000001" ? second + 1 : 0]);
      const lyingProof = `${packed.slice(0, 2 + 2 * (second + 67))}${len}`;
      await expectRevert(raw(fx, payee, signature, lyingProof), fx.oracle, "OracleMalformedBatch", [second]);
    }
    await unchanged(fx, ids, balance);
    // The well-formed bytes of the same signed batch are accepted whole afterwards.
    const receipt = await send(raw(fx, payee, signature, packed));
    expect(submittedOf(receipt, fx.oracle).map((r) => r.requestId)).toEqual(ids.map((id) => id.toLowerCase()));
  });

  it("test_submitBatch_duplicatedItemOrResentBatch_acceptedOnce", async () => {
    const fx = await fixture();
    const a = (await request(fx)).id;
    const b = (await request(fx)).id;
    // The worker's own batch names A twice: the second A is skipped, one bond locked for it.
    const sub = await batchSubmission(fx, [a, b, a], fx.signers[0]!);
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)));
    expect(submittedOf(receipt, fx.oracle).map((r) => r.requestId)).toEqual([a, b].map((id) => id.toLowerCase()));
    const skipped = events(receipt, fx.oracle, "ResultSkipped");
    expect(skipped.map((e) => [e.args.requestId, fx.oracle.interface.getError(e.args.reason)!.name])).toEqual([[a, "UnexpectedRequestState"]]);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect([w.locked, w.openResults]).toEqual([2n * PARAMS.resultBond, 2n]);
    // The same bytes sent again by anyone: every item skipped, nothing more locked.
    await expectSkipped(fx.oracle.connect(fx.other).submitBatch(...packBatch(sub)), fx.oracle, "UnexpectedRequestState");
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).locked).toBe(2n * PARAMS.resultBond);
  });

  it("test_submitBatch_signedForAnotherChainOrOracle_reverts", async () => {
    const fx = await fixture();
    const ids = [(await request(fx)).id, (await request(fx)).id];
    // A second oracle on this chain where the same worker key is staked: what it signs there is no
    // statement here, nor is what it signs for this oracle on another chain.
    const twin: any = await deployInferenceOracle(fx.admin, await fx.registry.getAddress(), fx.admin.address, PARAMS);
    await send(twin.connect(fx.ops[0]!).registerWorker(fx.signers[0]!.address, { value: 2n * 10n ** 18n }));
    const balance = await fx.ethers.provider.getBalance(fx.oracleAddr);
    for (const domain of [oracleDomain(fx.chainId, await twin.getAddress()), oracleDomain(fx.chainId + 1n, fx.oracleAddr)]) {
      const sub = await batchSubmission(fx, ids, fx.signers[0]!, { domain });
      await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)), fx.oracle, "OracleUnknownSigner");
    }
    await unchanged(fx, ids, balance);
  });

  it("test_submitBatch_signatureOverOtherBytes_revertsOrSkips", async () => {
    const fx = await fixture();
    const ids = [(await request(fx)).id, (await request(fx, { tier: Tier.NONE })).id];
    const extra = (await request(fx)).id;
    const balance = await fx.ethers.provider.getBalance(fx.oracleAddr);
    const sub = await batchSubmission(fx, ids, fx.signers[0]!);
    const items = sub.items;
    // The signed pairs changed: another output hash, an item dropped, an item added. The recovered key is
    // then nobody's. (Swapping the two leaves of one pair signs the same root: sorted-pair hashing, see
    // oracle-result-batch.test.ts; each item is still accepted or skipped on its own merits.)
    const tampered = [
      [{ ...items[0]!, outputHash: hashEncoded(OTHER) }, items[1]!],
      [items[0]!],
      [...items, { ...items[0]!, requestId: extra }],
    ];
    for (const t of tampered) {
      await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(sub.payee, sub.signature, packItems(t)), fx.oracle, "OracleUnknownSigner");
    }
    // Another payee than the one signed: the same.
    await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(fx.other.address, sub.signature, packItems(items)), fx.oracle, "OracleUnknownSigner");
    await unchanged(fx, [...ids, extra], balance);
    // The unsigned bytes of an item (its output) are not the worker's word: the NONE result delivered with
    // another tensor than the signed hash is skipped and pays nobody, the OPTIMISTIC one stands on its own.
    const swapped = [items[0]!, { ...items[1]!, output: hexlify(OTHER) }];
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(sub.payee, sub.signature, packItems(swapped)));
    expect(submittedOf(receipt, fx.oracle).map((r) => r.requestId)).toEqual([ids[0]!.toLowerCase()]);
    const [skip] = events(receipt, fx.oracle, "ResultSkipped");
    expect([skip!.args.requestId, fx.oracle.interface.getError(skip!.args.reason)!.name]).toEqual([ids[1], "OracleOutputHashMismatch"]);
    expect(await fx.oracle.state(ids[1]!)).toBe(BigInt(Status.Requested));
    expect(await fx.ethers.provider.getBalance(fx.oracleAddr)).toBe(balance);
    // With the signed tensor the NONE result is then delivered and paid.
    const right = [items[0]!, { ...items[1]!, output: hexlify(OUTPUT) }];
    await send(fx.oracle.connect(fx.relayer).submitBatch(sub.payee, sub.signature, packItems(right)));
    expect(await fx.oracle.state(ids[1]!)).toBe(BigInt(Status.Fulfilled));
    expect(hashEncoded(OUTPUT)).toBe(OUTPUT_HASH);
  });

  it("test_submitBatch_oversizedBatch_reverts", async () => {
    const fx = await fixture();
    const id = (await request(fx)).id;
    const balance = await fx.ethers.provider.getBalance(fx.oracleAddr);
    // One item more than the cap, unsigned filler around a real request: refused before any signature
    // check or state change, with the count it stopped at.
    const filler = Array.from({ length: MAX_PACKED_ITEMS }, () => ({ requestId: hexlify(randomBytes(32)), outputHash: OUTPUT_HASH }));
    const sub = await submission(fx, id, fx.signers[0]!);
    const packed = packItems([...filler, sub.items[0]!]);
    await expectRevert(
      fx.oracle.connect(fx.relayer).submitBatch(sub.payee, sub.signature, packed, { gasLimit: 16_000_000 }),
      fx.oracle,
      "OracleBatchTooLarge",
      [MAX_PACKED_ITEMS + 1, MAX_PACKED_ITEMS],
    );
    await unchanged(fx, [id], balance);
  });
});
