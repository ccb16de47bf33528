/**
 * Issue 12, finding 3, the rest of the rejection rules (docs/V2.md §3-§4): a rejection that proves the
 * input is not of the model's committed input type refunds at once, so the proof must be about this
 * request's input (header + data root hashing to its inputHash) and must show a real mismatch; and a
 * signed rejection binds one request (whose id binds the chain, the oracle, the model and the input)
 * under the oracle's EIP-712 domain, so it cannot be replayed on another request, oracle or chain.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroHash } from "ethers";
import {
  deploy, expectRevert, events, request, rejection, send, tensorF32, INPUT, INPUT_HASH, MODEL_HASH, PARAMS, Refund, Status,
  type Connection,
} from "../contracts/helpers.js";
import {
  encodeTensor,
  hashEncoded,
  tensorHashParts,
  oracleDomain,
  signRejection,
  deployInferenceOracle,
  deriveRequestId,
  type Hex,
  type RequestId,
} from "../../protocol/index.js";

/** An input of the model's committed type (float32 [1,3,48,192], see helpers.modelInfo). */
const FITTING = encodeTensor({ dtype: "float32", shape: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192).fill(0.5) });

describe("attack: forged type-mismatch proofs and replayed rejections (finding 3)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_rejectRequestWithProof_realMismatch_refundsAtOnce_succeeds", async () => {
    const fx = await fixture();
    // INPUT is float32 [1,4]; the model takes float32 [1,3,48,192]: one honest worker proves it.
    const { id } = await request(fx);
    const { header, dataRoot } = tensorHashParts(INPUT);
    // The proof alone is not enough: it comes in a staked worker's signed rejection.
    const stranger = (await import("ethers")).Wallet.createRandom();
    await expectRevert(fx.oracle.rejectRequestWithProof(id, 2, await rejection(fx, id, stranger as any, 2), header, dataRoot), fx.oracle, "OracleUnknownSigner", [stranger.address]);
    const sig = await rejection(fx, id, fx.signers[0]!, 2);
    const receipt = await send(fx.oracle.connect(fx.other).rejectRequestWithProof(id, 2, sig, header, dataRoot));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.InputTypeMismatch));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Refunded));
  });

  it("test_rejectRequestWithProof_headerNotHashingToInputHash_reverts", async () => {
    const fx = await fixture();
    const inputHash = hashEncoded(FITTING);
    const { id } = await request(fx, { inputHash });
    const real = tensorHashParts(FITTING);
    // The censor shows the header of another (mismatching) tensor with the real data root ...
    const forged = tensorHashParts(tensorF32([1, 4], [1, 2, 3, 4])).header;
    const sig = await rejection(fx, id, fx.signers[0]!, 2);
    const [, , computed] = await expectRevert(
      fx.oracle.rejectRequestWithProof(id, 2, sig, forged, real.dataRoot), fx.oracle, "OracleInputProofInvalid",
    );
    expect(computed).not.toBe(inputHash);
    // ... or the real header with another data root: refused the same way.
    await expectRevert(fx.oracle.rejectRequestWithProof(id, 2, sig, real.header, ZeroHash), fx.oracle, "OracleInputProofInvalid");
    // The input's own header and data root prove it fits the model: nothing to refund.
    await expectRevert(fx.oracle.rejectRequestWithProof(id, 2, sig, real.header, real.dataRoot), fx.oracle, "OracleInputTypeMatches", [id]);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect([...(await fx.oracle.rejections(id))]).toEqual([0n, BigInt(PARAMS.rejectionQuorum)]);
  });

  it("test_rejectRequest_signatureReplayedOnAnotherRequest_reverts", async () => {
    const fx = await fixture();
    const { id: a } = await request(fx);
    const { id: b } = await request(fx);
    const sigA = await rejection(fx, a, fx.signers[0]!, 3);
    // Another request's digest: the signature recovers to a key that is nobody's signer.
    await expectRevert(fx.oracle.rejectRequest(b, 3, sigA), fx.oracle, "OracleUnknownSigner");
    expect(await fx.oracle.hasRejected(b, fx.ops[0]!.address)).toBe(false);
    // A job forged with another input hash names another request id (the id binds the input), so a
    // rejection a worker signed for the forged job does not apply to the real request either.
    const chainId = fx.chainId;
    const forgedId = deriveRequestId(chainId, fx.oracleAddr, 2n, MODEL_HASH, hashEncoded(FITTING));
    expect(forgedId).not.toBe(b);
    expect(deriveRequestId(chainId, fx.oracleAddr, 2n, MODEL_HASH, INPUT_HASH)).toBe(b);
    await expectRevert(fx.oracle.rejectRequest(b, 3, await rejection(fx, forgedId, fx.signers[0]!, 3)), fx.oracle, "OracleUnknownSigner");
  });

  it("test_rejectRequest_signatureReplayedOnAnotherOracleOrChain_reverts", async () => {
    const fx = await fixture();
    // A second oracle on the same chain, where worker 0 is registered with the same signer key.
    const other: any = await deployInferenceOracle(fx.admin, await fx.registry.getAddress(), fx.admin.address, PARAMS);
    await send(other.connect(fx.ops[0]).registerWorker(fx.signers[0]!.address, { value: PARAMS.minStake }));
    const p = { modelHash: MODEL_HASH, inputHash: INPUT_HASH, input: "0x", inputURI: "ipfs://input", tier: 0, callbackGasLimit: 0, deadline: BigInt(2 ** 40 - 1), maxInlineOutput: 0 };
    const receipt = await send(other.connect(fx.requester).requestInference(p, { value: 10n ** 16n }));
    const [ev] = events(receipt, other, "InferenceRequested");
    const id = ev!.args.requestId as RequestId;
    // Signed under the first oracle's domain: worthless on the second.
    const wrongOracle = await signRejection(fx.signers[0]!, fx.domain, { requestId: id, reason: 3 });
    await expectRevert(other.rejectRequest(id, 3, wrongOracle), other, "OracleUnknownSigner");
    // Signed for another chain id: worthless here.
    const wrongChain = await signRejection(fx.signers[0]!, oracleDomain(fx.chainId + 1n, await other.getAddress()), { requestId: id, reason: 3 });
    await expectRevert(other.rejectRequest(id, 3, wrongChain), other, "OracleUnknownSigner");
    // The right domain counts.
    const right = await signRejection(fx.signers[0]!, oracleDomain(fx.chainId, await other.getAddress()), { requestId: id, reason: 3 });
    await send(other.rejectRequest(id, 3, right));
    expect(await other.hasRejected(id, fx.ops[0]!.address)).toBe(true);
    // The same sequence on another chain or oracle is another request id.
    expect(deriveRequestId(fx.chainId + 1n, await other.getAddress(), 1n, MODEL_HASH, INPUT_HASH as Hex)).not.toBe(id);
  });
});
