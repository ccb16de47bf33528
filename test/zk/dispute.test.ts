/**
 * ZkDisputeResolver with real proofs and the worker's challenge answerer: on an OPTIMISTIC request of
 * the zk-capable MNIST model, a challenge the answerer proves wrong costs the challenger its bond; a
 * challenge of a wrong result cannot be answered and the default ruling slashes the worker and
 * reopens the request; a wrong proof never answers a challenge.
 */
import { ZeroAddress, ZeroHash } from "ethers";
import { network } from "hardhat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChallenge } from "../../challenger/index.js";
import { decodeInferenceProof } from "../../circuits/index.js";
import { createLogger, hashEncoded, packBatch } from "../../protocol/index.js";
import { ProverPool, ZkChallengeAnswerer } from "../../worker/index.js";
import { events, expectRevert, PARAMS, request, send, submission, Status, Tier } from "../contracts/helpers.js";
import { ANSWER_WITHIN, deployZk, digits, outputTensor, prove, zkModels, type ZkFx } from "./fixture.js";
import { AbiCoder } from "ethers";

describe("ZK dispute resolution", () => {
  let fx: ZkFx;
  let prover: ProverPool;
  let answerer: ZkChallengeAnswerer;
  let models: Awaited<ReturnType<typeof zkModels>>;

  beforeAll(async () => {
    models = await zkModels();
    fx = await deployZk(await network.create());
    prover = new ProverPool(1);
    answerer = new ZkChallengeAnswerer({
      provider: fx.ethers.provider,
      signer: fx.other,
      oracle: fx.oracleAddr,
      resolver: await fx.zkResolver.getAddress(),
      zk: [{ modelHash: models.mnist.modelHash, wasm: models.mnist.wasmPath, zkey: models.mnist.zkeyPath }],
      prover,
      startBlock: 0,
      logger: createLogger("test", { level: "silent" }),
    });
  }, 600_000);
  afterAll(async () => {
    await answerer?.close();
    await prover?.close();
  });

  /** An OPTIMISTIC request for digit `d`, a result from worker 0 with `outputHash`, and a challenge. */
  async function challenged(d: ReturnType<typeof digits>[number], outputHash: string) {
    const { id } = await request(fx, { modelHash: fx.mnistHash, input: d.tensor, tier: Tier.OPTIMISTIC });
    const sub = await submission(fx, id, fx.signers[0]!, { outputHash });
    const submitted = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)));
    const rc = await send(openChallenge(fx.oracle.connect(fx.challenger), await fx.oracle.getAddress(), id, submitted.logs, PARAMS.challengeBond));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));
    return { id, rc };
  }

  it("an honest result's challenge is answered with a proof: the challenger loses its bond, the result settles", async () => {
    const [d] = digits(1, 200);
    const honest = await prove(models.mnist, d!.data);
    const { id } = await challenged(d!, honest.outputHash);
    const d0 = await fx.oracle.getDispute(id, 0);
    expect(d0.defaultRuling).toBe(2n); // Ruling.WorkerFault: the worker must answer

    await answerer.poll();
    expect(answerer.outcomes.get(id.toLowerCase())).toBe("answered");
    const resolved = await fx.oracle.queryFilter(fx.oracle.filters.DisputeResolved(id));
    expect(resolved).toHaveLength(1);
    expect(resolved[0]!.args.ruling).toBe(1n); // Ruling.WorkerRight
    expect(resolved[0]!.args.byDefault).toBe(false);
    // The challenger's bond, less the burn share, goes to the worker.
    const burn = (PARAMS.challengeBond * BigInt(PARAMS.burnBps)) / 10_000n;
    expect(resolved[0]!.args.burned).toBe(burn);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    expect((await fx.oracle.queryFilter(fx.oracle.filters.WorkerSlashed())).length).toBe(0);
    // A second answer finds no open dispute.
    await expectRevert(fx.zkResolver.answer(id, honest.proof), fx.zkResolver, "ZkResolverUnknownDispute", [id]);
  });

  it("a wrong result cannot be answered: after the deadline the worker is slashed and the request reopens", async () => {
    const [d, other] = digits(2, 300);
    const honest = await prove(models.mnist, d!.data);
    const wrongOut = Uint8Array.from(honest.outputData);
    wrongOut[0] = (wrongOut[0]! + 7) & 0xff;
    const wrongHash = hashEncoded(outputTensor(wrongOut));
    const { id } = await challenged(d!, wrongHash);

    await answerer.poll();
    expect(answerer.outcomes.get(id.toLowerCase())).toBe("output-differs");
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));

    // Wrong proofs do not answer: the honest proof (another output), another input's proof, a tampered
    // proof, another model's proof.
    const coder = AbiCoder.defaultAbiCoder();
    const p = decodeInferenceProof(honest.proof);
    const forged = coder.encode(["uint256[2]", "uint256[2][2]", "uint256[2]", "bytes", "bytes"], [p.a, p.b, p.c, p.inputData, wrongOut]);
    const otherInput = await prove(models.mnist, other!.data);
    const otherModel = await prove(models.h16, d!.data);
    for (const proof of [honest.proof, forged, otherInput.proof, otherModel.proof, "0x1234"]) {
      await expectRevert(fx.zkResolver.connect(fx.other).answer(id, proof), fx.zkResolver, "ZkResolverProofInvalid", [id]);
    }
    // Only the oracle opens disputes.
    await expectRevert(
      fx.zkResolver.onDisputeOpened({ requestId: id, attempt: 0, modelHash: fx.mnistHash, inputHash: d!.hash, outputHash: wrongHash, worker: fx.ops[0]!.address, signer: ZeroAddress, paramsVersion: 1 }),
      fx.zkResolver, "ZkResolverOnlyOracle", [fx.admin.address],
    );

    await fx.ethers.provider.send("evm_increaseTime", [ANSWER_WITHIN + 1]);
    await fx.ethers.provider.send("evm_mine", []);
    const rc = await send(fx.oracle.connect(fx.other).resolveDisputeByDefault(id));
    const [slashed] = events(rc, fx.oracle, "WorkerSlashed");
    expect(slashed!.args.operator).toBe(fx.ops[0]!.address);
    expect(slashed!.args.beneficiary).toBe(fx.challenger.address);
    const [resolved] = events(rc, fx.oracle, "DisputeResolved");
    expect(resolved!.args.ruling).toBe(2n); // Ruling.WorkerFault
    expect(resolved!.args.byDefault).toBe(true);
    expect(resolved!.args.share).toBe(PARAMS.challengeBond + PARAMS.resultBond - (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / 10_000n);
    expect(events(rc, fx.oracle, "RequestReopened")).toHaveLength(1);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
  });
});
