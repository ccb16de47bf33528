/**
 * FraudProofResolver on the real stack: the real PP-OCR classifier, its registered commitment, real
 * traces from onnxruntime (node, several optimization levels and thread counts, and wasm), the real
 * oracle, one-step proofs built by challenger/onestep.ts and checked by the Solidity verifier.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { StepProofBuilder } from "../../challenger/onestep.js";
import { checkTrace, compareElement, operatorKernel } from "../../challenger/checker.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { commitTrace } from "../../protocol/trace.js";
import { hashTensor, type Tensor } from "../../protocol/tensor.js";
import { batchSlicedTrace, clsCommitment, clsInput, copy, nodeTrace, wasmTrace } from "../challenger/fixtures.js";
import { deploy, events, expectRevert, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Connection } from "../contracts/helpers.js";
import { bindResultTrace, challengeResult, deployVerifier, inputHash } from "./helpers.js";

const BOND = PARAMS.challengeBond;
const DURATION = 86400;
const DA_WINDOW = 3600;
const DA_RESPONSE = 3600;

let conn: Connection;
let commitment: ModelCommitment;
let input: Tensor;
let honest: Tensor[];

beforeAll(async () => {
  conn = await network.create();
  commitment = await clsCommitment();
  input = clsInput();
  honest = await nodeTrace(input, { level: "all", threads: 1 });
});

async function setup(c: Connection) {
  const fx = await deploy(c);
  const verifier = await deployVerifier(fx.ethers);
  const fraud: any = await fx.ethers.deployContract("FraudProofResolver", [fx.oracleAddr, await fx.registry.getAddress(), await verifier.getAddress(), DURATION, DA_WINDOW, DA_RESPONSE]);
  await fx.registry.connect(fx.admin).setResolverApproval(await fraud.getAddress(), true);
  await fx.registry.connect(fx.modelOwner).registerModel(commitment.modelHash, modelInfo({ tiers: 2, resolver: await fraud.getAddress(), commitmentRoot: commitment.root }));
  await fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, commitment.traceTypes.length);
  const linear = await fx.ethers.getContractAt("LinearOps", await verifier.linearOps());
  return { ...fx, verifier, fraud, linear };
}
type Fx = Awaited<ReturnType<typeof setup>>;
const fixture = () => conn.networkHelpers.loadFixture(setup);

/** Worker `w` submits a result committing to `tensors` (outputHash: the trace's last tensor unless given); the challenger disputes it. */
async function submitAndChallenge(fx: Fx, tensors: Tensor[], w = 0, outputHash?: string) {
  const { traceRoot } = commitTrace(tensors);
  const { id, rec, receipt } = await requestAndSubmit(fx, w, { modelHash: commitment.modelHash, inputHash: inputHash(input), outputHash: outputHash ?? hashTensor(tensors.at(-1)!), traceRoot });
  await send(challengeResult(fx.oracle, fx.challenger, id, receipt, BOND));
  await bindResultTrace(fx.fraud, fx.oracle, id, receipt);
  return { id, rec, receipt, builder: new StepProofBuilder(commitment, { input, tensors }) };
}

function expectSlashed(receipt: any, fx: Fx, w = 0) {
  const [slash] = events(receipt, fx.oracle, "WorkerSlashed");
  expect(slash!.args.operator).toBe(fx.ops[w]!.address);
  expect(slash!.args.beneficiary).toBe(fx.challenger.address);
  const [res] = events(receipt, fx.oracle, "DisputeResolved");
  expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
  expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(1);
}

describe("FraudProofResolver: one-step fraud proofs on the PP-OCR classifier", () => {
  it("test_proveFraud_alteredIntermediateElement_slashesAndReopens", async () => {
    const fx = await fixture();
    const tensors = honest.map(copy);
    const conv = commitment.operators.filter((o) => o.opType === "Conv")[20]!;
    const t = tensors[conv.outputs[0]!.trace]!.data as Float32Array;
    const element = 50;
    t[element] = t[element]! * 1.001 + 1e-3;
    const verdict = checkTrace(commitment, { input, tensors });
    expect(verdict.fault).toMatchObject({ opIndex: conv.index, element });
    const { id, builder } = await submitAndChallenge(fx, tensors);
    const receipt = await send(fx.fraud.connect(fx.challenger).proveFraud(id, builder.step(conv.index, 0, element)));
    expectSlashed(receipt, fx);
    const [proven] = events(receipt, fx.fraud, "FraudProven");
    expect(proven!.args.workerAtFault).toBe(true);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(BOND + PARAMS.resultBond - (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / 10_000n);
    // Another worker serves the reopened request honestly; a later dispute on it starts afresh.
    const { traceRoot } = commitTrace(honest);
    const { submission } = await import("../contracts/helpers.js");
    const sub = await submission(fx as any, id, fx.signers[1]!, { outputHash: hashTensor(honest.at(-1)!), traceRoot });
    await send(fx.oracle.connect(fx.relayer).submitResult(sub));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
  });

  it("test_bindTrace_onlyTheDisputedRecord_once", async () => {
    const fx = await fixture();
    const { traceRoot } = commitTrace(honest);
    const { id, rec, receipt } = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: inputHash(input), outputHash: hashTensor(honest.at(-1)!), traceRoot });
    await send(challengeResult(fx.oracle, fx.challenger, id, receipt, BOND));
    // Nothing can be proven before the trace is bound.
    await expectRevert(fx.fraud.stepContext(id), fx.fraud, "FraudTraceUnbound", [id]);
    await expectRevert(fx.fraud.bindTrace(id, { ...rec, traceRoot: "0x" + "11".repeat(32) }, []), fx.fraud, "FraudRecordMismatch", [id]);
    await expectRevert(fx.fraud.bindTrace(id, { ...rec, worker: fx.ops[1]!.address }, []), fx.fraud, "FraudRecordMismatch", [id]);
    const bound = await send(fx.fraud.connect(fx.other).bindTrace(id, rec, []));
    expect(events(bound, fx.fraud, "TraceBound")[0]!.args.traceRoot).toBe(traceRoot);
    await expectRevert(fx.fraud.bindTrace(id, rec, []), fx.fraud, "FraudTraceAlreadyBound", [id]);
    expect((await fx.fraud.stepContext(id)).traceRoot).toBe(traceRoot);
  });

  it("test_setTraceCount_setOnce_reverts", async () => {
    const fx = await fixture();
    const n = commitment.traceTypes.length;
    expect(await fx.fraud.traceCount(commitment.modelHash)).toBe(BigInt(n));
    await expectRevert(fx.fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, n + 1), fx.fraud, "FraudTraceCountAlreadySet", [commitment.modelHash, n]);
  });

  it("test_proveFraud_alteredFinalOutputInTrace_slashes", async () => {
    const fx = await fixture();
    const tensors = honest.map(copy);
    const out = tensors.at(-1)!.data as Float32Array;
    [out[0], out[1]] = [out[1]!, out[0]!]; // flips the predicted direction
    const softmax = commitment.operators.at(-1)!;
    const { id, builder } = await submitAndChallenge(fx, tensors);
    expectSlashed(await send(fx.fraud.connect(fx.challenger).proveFraud(id, builder.step(softmax.index, 0, 0))), fx);
  });

  it("test_proveOutputMismatch_outputNotTheTracedOne_slashes", async () => {
    const fx = await fixture();
    const forged = copy(honest.at(-1)!);
    (forged.data as Float32Array)[0] = 1 - (forged.data as Float32Array)[0]!;
    const { id, builder } = await submitAndChallenge(fx, honest, 0, hashTensor(forged));
    const n = commitment.traceTypes.length;
    // The traced output matching the signed one cannot be "proven" a mismatch.
    const ok = await submitAndChallenge(fx, honest, 1);
    await expectRevert(fx.fraud.proveOutputMismatch(ok.id, n, builder.manifestRoot(), builder.row(n - 1)), fx.fraud, "FraudOutputMatches");
    await expectRevert(fx.fraud.proveManifestMismatch(ok.id, n, builder.manifestRoot()), fx.fraud, "FraudManifestMatches");
    const receipt = await send(fx.fraud.connect(fx.other).proveOutputMismatch(id, n, builder.manifestRoot(), builder.row(n - 1)));
    expectSlashed(receipt, fx);
  });

  it("test_proveTypeFault_traceTensorOfAnotherShape_slashes", async () => {
    const fx = await fixture();
    const tensors = honest.map(copy);
    const conv = commitment.operators.find((o) => o.opType === "Conv")!;
    const t = conv.outputs[0]!.trace;
    tensors[t] = { ...tensors[t]!, shape: tensors[t]!.shape.slice(1) }; // [8, 24, 96] instead of [1, 8, 24, 96]
    expect(checkTrace(commitment, { input, tensors }).fault).toMatchObject({ reason: "type", traceIndex: t });
    const { id, builder } = await submitAndChallenge(fx, tensors);
    const ok = await submitAndChallenge(fx, honest, 1);
    await expectRevert(fx.fraud.proveTypeFault(ok.id, ok.builder.typeFault(conv.index, 0)), fx.fraud, "FraudTypeMatches", [t]);
    await expectRevert(fx.fraud.proveTypeFault(id, { ...builder.typeFault(conv.index, 0), header: ok.builder.typeFault(conv.index, 0).header }), fx.fraud, "FraudHeaderMismatch", [t]);
    const receipt = await send(fx.fraud.connect(fx.other).proveTypeFault(id, builder.typeFault(conv.index, 0)));
    expectSlashed(receipt, fx);
    expect(events(receipt, fx.fraud, "TypeFaultProven")[0]!.args.traceIndex).toBe(BigInt(t));
  });

  it("test_availability_withheldTrace_slashWithheld", async () => {
    const fx = await fixture();
    const { id } = await submitAndChallenge(fx, honest);
    const refs = [{ traceIndex: 0xffffffff, chunk: 0 }, { traceIndex: 5, chunk: 3 }];
    await expectRevert(fx.fraud.connect(fx.other).challengeAvailability(id, refs), fx.fraud, "FraudOnlyChallenger", [id, fx.other.address]);
    await expectRevert(fx.fraud.connect(fx.challenger).challengeAvailability(id, []), fx.fraud, "FraudDaBadRefs", [0]);
    await send(fx.fraud.connect(fx.challenger).challengeAvailability(id, refs));
    await expectRevert(fx.fraud.connect(fx.challenger).challengeAvailability(id, refs), fx.fraud, "FraudDaAlreadyChallenged");
    await expectRevert(fx.fraud.slashWithheld(id), fx.fraud, "FraudDaDeadlineNotReached");
    await conn.networkHelpers.time.increase(DA_RESPONSE);
    expectSlashed(await send(fx.fraud.connect(fx.other).slashWithheld(id)), fx);
  });

  it("test_availability_revealed_challengerContinues", async () => {
    const fx = await fixture();
    const { id, builder } = await submitAndChallenge(fx, honest);
    const n = commitment.traceTypes.length;
    // Two real chunks, and two that do not exist (past tensor 7's data; past the trace's last tensor).
    await send(fx.fraud.connect(fx.challenger).challengeAvailability(id, [{ traceIndex: 0xffffffff, chunk: 1 }, { traceIndex: 7, chunk: 2 }, { traceIndex: 7, chunk: 999999 }, { traceIndex: 500, chunk: 0 }]));
    const manifestRoot = builder.manifestRoot();
    const noRow = { index: 0, data: "0x", path: [] };
    const manifestReveal = { traceIndex: 0xffffffff, traceCount: n, manifestRoot, row: noRow, header: "0x", dataRoot: manifestRoot, chunk: builder.row(32) };
    const c = builder.traceChunk(7, 2);
    const tensorReveal = { traceIndex: 7, traceCount: n, manifestRoot, row: builder.row(7), header: c.header, dataRoot: c.dataRoot, chunk: { index: c.index, data: c.data, path: c.path } };
    // A chunk nobody asked for, or a wrong one, is refused.
    await expectRevert(fx.fraud.reveal(id, { ...tensorReveal, chunk: builder.traceChunk(7, 3) }), fx.fraud, "FraudDaNotRequested", [7, 3]);
    const bad = { ...tensorReveal, chunk: { ...tensorReveal.chunk, data: "0x" + "00".repeat(1024) } };
    await expectRevert(fx.fraud.reveal(id, bad), fx.fraud, "TraceChunkPath");
    const r1 = await send(fx.fraud.connect(fx.other).reveal(id, manifestReveal));
    const r2 = await send(fx.fraud.connect(fx.ops[0]).reveal(id, tensorReveal));
    const [ev] = events(r2, fx.fraud, "ChunkRevealed");
    expect(ev!.args.data).toBe(c.data);
    expect(events(r1, fx.fraud, "ChunkRevealed")).toHaveLength(1);
    // The nonexistent ones are answered by proving their range (an honest worker can answer anything named).
    await expectRevert(fx.fraud.slashWithheld(id), fx.fraud, "FraudDaDeadlineNotReached");
    const past = await send(fx.fraud.reveal(id, { ...tensorReveal, chunk: { index: 999999, data: "0x", path: [] } }));
    expect(events(past, fx.fraud, "ChunkNonexistent")[0]!.args.chunk).toBe(999999n);
    await send(fx.fraud.reveal(id, { ...manifestReveal, traceIndex: 500, chunk: { index: 0, data: "0x", path: [] } }));
    await conn.networkHelpers.time.increase(DA_RESPONSE);
    await expectRevert(fx.fraud.slashWithheld(id), fx.fraud, "FraudDaNothingWithheld");
    // The dispute goes on: the default (worker not at fault) applies at the deadline.
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));
  });

  it("test_proveFraud_honestTracesUnderOtherRuntimesAndBatchSizes_worstElementsNeverSlash", async () => {
    const fx = await fixture();
    const conditions: Record<string, Tensor[]> = {
      "disabled, 1 thread": await nodeTrace(input, { level: "disabled", threads: 1 }),
      "basic, 2 threads": await nodeTrace(input, { level: "basic", threads: 2 }),
      "all, 4 threads": await nodeTrace(input, { level: "all", threads: 4 }),
      "onnxruntime-web wasm": await wasmTrace(input),
      "item 1 of a batch of 4": await batchSlicedTrace(input, 1, honest),
    };
    for (const [condition, tensors] of Object.entries(conditions)) {
      // The worst element (largest share of its bound) of every float operator kind.
      const worst = new Map<string, { opIndex: number; element: number; ratio: number }>();
      for (const op of commitment.operators) {
        const kernel = operatorKernel(commitment, { input, tensors }, op.index);
        if (kernel.exact) continue;
        const claimed = tensors[op.outputs[0]!.trace]!.data;
        for (let i = 0; i < claimed.length; i++) {
          const r = compareElement(kernel, claimed[i]!, kernel.element(0, i));
          const ratio = Math.abs(Number(r.claimed) - Number(r.recomputed)) / r.bound;
          if (ratio > (worst.get(op.opType)?.ratio ?? -1)) worst.set(op.opType, { opIndex: op.index, element: i, ratio });
        }
      }
      expect(worst.size, condition).toBe(9);
      const { id, builder } = await submitAndChallenge(fx, tensors);
      const c = await fx.fraud.stepContext(id);
      const ctx = { commitmentRoot: c.commitmentRoot, inputHash: c.inputHash, traceRoot: c.traceRoot };
      for (const [opType, w] of worst) {
        const v = await fx.verifier.verify(builder.step(w.opIndex, 0, w.element), ctx);
        expect(v.faulty, `${condition}: ${opType} #${w.opIndex}[${w.element}] at ${w.ratio.toFixed(3)} of its bound`).toBe(false);
      }
      // Proving the very worst element fails (FraudStepCorrect) and changes nothing: the dispute stays
      // open (a sock cannot end it by proving a right element), and the default WorkerRight applies at
      // its deadline, paying the challenger's bond (less the burn) to the worker.
      const top = [...worst.values()].sort((a, b) => b.ratio - a.ratio)[0]!;
      await expectRevert(fx.fraud.connect(fx.challenger).proveFraud(id, builder.step(top.opIndex, 0, top.element)), fx.fraud, "FraudStepCorrect", [id, top.opIndex, top.element]);
      expect(await fx.oracle.state(id), condition).toBe(BigInt(Status.Challenged));
      await conn.networkHelpers.time.increase(DURATION);
      const before = await fx.oracle.balanceOf(fx.ops[0]!.address);
      const receipt = await send(fx.oracle.resolveDisputeByDefault(id));
      const [res] = events(receipt, fx.oracle, "DisputeResolved");
      expect(res!.args.ruling, condition).toBe(BigInt(Ruling.WorkerRight));
      expect(events(receipt, fx.oracle, "WorkerSlashed")).toHaveLength(0);
      expect(await fx.oracle.balanceOf(fx.ops[0]!.address)).toBe(before + BOND - (BOND * BigInt(PARAMS.burnBps)) / 10_000n);
      expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    }
  }, 600_000);

  it("test_proveFraud_malformedProofs_revertWithClearErrors", async () => {
    const fx = await fixture();
    const tensors = honest.map(copy);
    const conv = commitment.operators.filter((o) => o.opType === "Conv")[5]!;
    (tensors[conv.outputs[0]!.trace]!.data as Float32Array)[10]! += 1;
    const { id, builder } = await submitAndChallenge(fx, tensors);
    const good = builder.step(conv.index, 0, 10);
    const prove = (p: object, from = fx.challenger) => fx.fraud.connect(from).proveFraud(id, p);
    const flip = (h: string) => h.slice(0, -2) + (h.endsWith("00") ? "01" : "00");
    await expectRevert(prove(good, fx.other), fx.fraud, "FraudOnlyChallenger", [id, fx.other.address]);
    // Nobody is a challenger of a dispute that does not exist.
    await expectRevert(fx.fraud.connect(fx.challenger).proveFraud("0x" + "07".repeat(32), good), fx.fraud, "FraudOnlyChallenger");
    await expectRevert(prove({ ...good, opPath: [flip(good.opPath[0]!), ...good.opPath.slice(1)] }), fx.verifier, "StepOperatorPath", [conv.index]);
    await expectRevert(prove({ ...good, opIndex: conv.index + 1 }), fx.verifier, "StepOperatorPath");
    await expectRevert(prove({ ...good, weightsRoot: flip(good.weightsRoot) }), fx.verifier, "StepCommitmentMismatch");
    await expectRevert(prove({ ...good, traceCount: good.traceCount + 1 }), fx.verifier, "TraceManifestMismatch");
    await expectRevert(prove({ ...good, element: 10n ** 9n }), fx.verifier, "StepElementOutOfRange");
    await expectRevert(prove({ ...good, inputs: good.inputs.slice(1) }), fx.verifier, "StepInputCount", [1, 2]);
    const x = good.inputs[0]!;
    await expectRevert(prove({ ...good, inputs: [{ ...x, row: builder.row(200) }, good.inputs[1]] }), fx.verifier, "TraceRowChunkMismatch");
    await expectRevert(prove({ ...good, inputs: [{ ...x, dataRoot: flip(x.dataRoot) }, good.inputs[1]] }), fx.verifier, "StepTensorHashMismatch");
    const chunk0 = x.chunks[0]!;
    await expectRevert(prove({ ...good, inputs: [{ ...x, chunks: [{ ...chunk0, data: flip(chunk0.data) }, ...x.chunks.slice(1)] }, good.inputs[1]] }), fx.verifier, "TraceChunkPath");
    await expectRevert(prove({ ...good, inputs: [{ ...x, chunks: [...x.chunks].reverse() }, good.inputs[1]] }), fx.verifier, "TraceChunkOrder");
    await expectRevert(prove({ ...good, inputs: [{ ...x, chunks: [{ ...chunk0, index: 100000 }] }, good.inputs[1]] }), fx.verifier, "TraceChunkOutOfRange");
    await expectRevert(prove({ ...good, inputs: [{ ...x, chunks: x.chunks.slice(1) }, good.inputs[1]] }), fx.linear, "OperandMissingChunk", [0, chunk0.index]);
    // Nothing changed: the well-formed proof still wins.
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));
    expectSlashed(await send(prove(good)), fx);
  });
});
