/**
 * The generated IZkVerifier adapter (contracts/zk/MnistMlpZkVerifier.sol) with real Groth16 proofs:
 * off-chain (snarkjs) and on-chain (adapter, oracle submitBatch) a valid proof
 * settles and calls back in one transaction; a tampered proof, tampered public signals, a proof for
 * another input and a proof for another model are all rejected.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AbiCoder, ZeroHash } from "ethers";
import { network } from "hardhat";
import * as ort from "onnxruntime-node";
import * as snarkjs from "snarkjs";
import { beforeAll, describe, expect, it } from "vitest";
import { argmax, decodeInferenceProof, encodeInferenceProof } from "../../circuits/index.js";
import { hashEncoded, packBatch } from "../../protocol/index.js";
import { events, expectRevert, expectSkipped, FEE, request, send, submission, Tier, Status } from "../contracts/helpers.js";
import { deployZk, digits, MNIST_PATH, outputTensor, prove, REPO, zkModels, type ZkFx } from "./fixture.js";

/** EIP-2028 calldata cost: 16 gas per nonzero byte, 4 per zero byte. */
export function calldataGas(hex: string): bigint {
  let gas = 0n;
  for (let i = 2; i < hex.length; i += 2) gas += hex.slice(i, i + 2) === "00" ? 4n : 16n;
  return gas;
}

type Proven = Awaited<ReturnType<typeof prove>>;
const coder = AbiCoder.defaultAbiCoder();
const reencode = (p: ReturnType<typeof decodeInferenceProof>) =>
  coder.encode(["uint256[2]", "uint256[2][2]", "uint256[2]", "bytes", "bytes"], [p.a, p.b, p.c, p.inputData, p.outputData]);

describe("ZK adapter with real Groth16 proofs", () => {
  let fx: ZkFx;
  let models: Awaited<ReturnType<typeof zkModels>>;
  const [a, b] = digits(2, 0) as [ReturnType<typeof digits>[number], ReturnType<typeof digits>[number]];
  let pa: Proven; // mnist-mlp, digit a
  let pb: Proven; // mnist-mlp, digit b
  let pa16: Proven; // mnist-mlp-h16, digit a

  beforeAll(async () => {
    models = await zkModels();
    fx = await deployZk(await network.create());
    pa = await prove(models.mnist, a.data);
    pb = await prove(models.mnist, b.data);
    pa16 = await prove(models.h16, a.data);
  }, 600_000);

  it("the generated contracts are the committed ones (reproducible from the model and the committed ptau)", () => {
    const { mnist, h16 } = models;
    for (const m of [mnist, h16]) {
      expect(m.groth16Sol).toBe(readFileSync(join(REPO, "contracts", "zk", `${m.names.groth16Contract}.sol`), "utf8"));
      expect(m.adapterSol).toBe(readFileSync(join(REPO, "contracts", "zk", `${m.names.adapterContract}.sol`), "utf8"));
    }
    expect(mnist.verificationKey).toEqual(JSON.parse(readFileSync(join(REPO, "models", "mnist-mlp.vkey.json"), "utf8")));
  });

  it("off-chain: a proof verifies; tampered proof, tampered signals, another input's signals, another model's key do not", async () => {
    const { mnist, h16 } = models;
    // The proven output is what onnxruntime computes for the same digit, and names the digit's label.
    const session = await ort.InferenceSession.create(MNIST_PATH);
    const run = await session.run({ [session.inputNames[0]!]: new ort.Tensor("int8", a.pixels, [1, 7, 7]) });
    const proven = new Int8Array(pa.outputData.buffer, pa.outputData.byteOffset, 10);
    expect(Array.from(proven)).toEqual(Array.from(run[session.outputNames[0]!]!.data as Int8Array));
    expect(argmax(proven)).toBe(a.label);
    await session.release();
    expect(await snarkjs.groth16.verify(mnist.verificationKey, pa.publicSignals, pa.raw)).toBe(true);
    const tampered = { ...pa.raw, pi_a: [pb.raw.pi_a[0]!, pb.raw.pi_a[1]!, "1"] };
    expect(await snarkjs.groth16.verify(mnist.verificationKey, pa.publicSignals, tampered)).toBe(false);
    const signals = [(BigInt(pa.publicSignals[0]!) ^ 1n).toString(), ...pa.publicSignals.slice(1)];
    expect(await snarkjs.groth16.verify(mnist.verificationKey, signals, pa.raw)).toBe(false);
    expect(await snarkjs.groth16.verify(mnist.verificationKey, pb.publicSignals, pa.raw)).toBe(false);
    expect(await snarkjs.groth16.verify(mnist.verificationKey, pa16.publicSignals, pa16.raw)).toBe(false);
    expect(await snarkjs.groth16.verify(h16.verificationKey, pa16.publicSignals, pa16.raw)).toBe(true);
  });

  it("on-chain: the adapter accepts exactly the proven statement", async () => {
    const { adapter, h16Adapter, mnistHash, h16Hash } = fx;
    const ok = (m: string, i: string, o: string, proof: string) => adapter.verifyInference(m, i, o, proof) as Promise<boolean>;
    expect(await ok(mnistHash, a.hash, pa.outputHash, pa.proof)).toBe(true);
    const gas = await adapter.verifyInference.estimateGas(mnistHash, a.hash, pa.outputHash, pa.proof);
    const data = adapter.interface.encodeFunctionData("verifyInference", [mnistHash, a.hash, pa.outputHash, pa.proof]);
    const execution = gas - 21_000n - calldataGas(data);
    console.log(`[zk] MnistMlpZkVerifier.verifyInference: ${gas} gas as a transaction, ${execution} of it execution (what the oracle's call costs)`);
    expect(execution).toBeLessThan(300_000n);

    // Wrong model hash, wrong input hash, wrong output hash.
    expect(await ok(h16Hash, a.hash, pa.outputHash, pa.proof)).toBe(false);
    expect(await ok(mnistHash, b.hash, pa.outputHash, pa.proof)).toBe(false);
    expect(await ok(mnistHash, a.hash, pb.outputHash, pa.proof)).toBe(false);
    // Tampered proof point.
    const d = decodeInferenceProof(pa.proof);
    expect(await ok(mnistHash, a.hash, pa.outputHash, reencode({ ...d, c: [d.c[0]!, d.c[1]! + 1n] }))).toBe(false);
    expect(await ok(mnistHash, a.hash, pa.outputHash, reencode({ ...d, a: decodeInferenceProof(pb.proof).a }))).toBe(false);
    // Tampered public signals: another output, with the hash to match it.
    const forgedOut = Uint8Array.from(d.outputData);
    forgedOut[0] = (forgedOut[0]! + 1) & 0xff;
    const forgedHash = hashEncoded(outputTensor(forgedOut));
    expect(await ok(mnistHash, a.hash, forgedHash, reencode({ ...d, outputData: forgedOut }))).toBe(false);
    // Another input's proof, with that input's bytes and hash.
    expect(await ok(mnistHash, a.hash, pb.outputHash, pb.proof)).toBe(false);
    expect(await ok(mnistHash, b.hash, pb.outputHash, pb.proof)).toBe(true);
    // Another model's proof (same shapes) against this model's adapter, and the other way round.
    expect(await ok(mnistHash, a.hash, pa16.outputHash, pa16.proof)).toBe(false);
    expect(await h16Adapter.verifyInference(h16Hash, a.hash, pa16.outputHash, pa16.proof)).toBe(true);
    expect(await h16Adapter.verifyInference(h16Hash, a.hash, pa.outputHash, pa.proof)).toBe(false);
    expect(await h16Adapter.verifyInference(mnistHash, a.hash, pa.outputHash, pa.proof)).toBe(false);
    // Wrong lengths return false; bytes that do not decode revert (the oracle maps that to OracleProofInvalid).
    expect(await ok(mnistHash, a.hash, pa.outputHash, reencode({ ...d, inputData: d.inputData.slice(0, 48) }))).toBe(false);
    await expect(adapter.verifyInference(mnistHash, a.hash, pa.outputHash, "0x1234")).rejects.toThrow();
  });

  it("oracle: a ZK-tier request settles and calls back in the submitting transaction; bad proofs revert or are skipped", async () => {
    const consumer: any = await fx.ethers.deployContract("DigitClassifierDApp", [fx.oracleAddr, fx.mnistHash, Tier.ZK, 200_000]);
    const deadline = BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const rc = await send(consumer.connect(fx.requester).classify(a.tensor, deadline, { value: FEE }));
    const [ev] = events(rc, fx.oracle, "InferenceRequested");
    const id = ev!.args.requestId as string;
    expect((await fx.oracle.getRequest(id)).inputHash).toBe(a.hash);

    // Invalid: another model's proof, a tampered proof, no proof.
    const sub16 = await submission(fx, id, fx.signers[0]!, { outputHash: pa16.outputHash, output: pa16.output, proof: pa16.proof });
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub16)), fx.oracle, "OracleProofInvalid");
    const d = decodeInferenceProof(pa.proof);
    const badProof = reencode({ ...d, c: [d.c[0]!, d.c[1]! + 1n] });
    const bad = await submission(fx, id, fx.signers[0]!, { outputHash: pa.outputHash, output: pa.output, proof: badProof });
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(bad)), fx.oracle, "OracleProofInvalid");
    const none = await submission(fx, id, fx.signers[0]!, { outputHash: pa.outputHash, output: pa.output });
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(none)), fx.oracle, "OracleProofRequired");
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));

    // Valid: settles, pays and calls back in this one transaction.
    const good = await submission(fx, id, fx.signers[0]!, { outputHash: pa.outputHash, output: pa.output, proof: pa.proof });
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(good)));
    console.log(`[zk] ZK-tier submitBatch x1 incl. proof check and DigitClassifierDApp callback: ${receipt.gasUsed} gas`);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    const [fulfilled] = events(receipt, fx.oracle, "RequestFulfilled");
    expect(fulfilled!.args.callbackSucceeded).toBe(true);
    const p = await consumer.prediction(id);
    expect(p.received && p.decoded).toBe(true);
    expect(Number(p.digit)).toBe(argmax(new Int8Array(pa.outputData.buffer, pa.outputData.byteOffset, 10)));

    // The other digit, from another worker's batch.
    const rc2 = await send(consumer.connect(fx.requester).classify(b.tensor, deadline, { value: FEE }));
    const id2 = events(rc2, fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    const good2 = await submission(fx, id2, fx.signers[1]!, { outputHash: pb.outputHash, output: pb.output, proof: pb.proof });
    const r2 = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(good2)));
    expect(events(r2, fx.oracle, "ResultSkipped")).toHaveLength(0);
    expect(await fx.oracle.state(id2)).toBe(BigInt(Status.Fulfilled));
  });

  it("proof bytes round-trip through encode/decode", () => {
    const again = encodeInferenceProof(pa.raw, pa.publicSignals, 49, 10);
    expect(again.proof).toBe(pa.proof);
    expect(Buffer.from(decodeInferenceProof(pa.proof).inputData)).toEqual(Buffer.from(a.data));
  });
});
