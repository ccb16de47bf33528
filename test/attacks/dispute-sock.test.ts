/**
 * Issue 11, scenario 1 ("self-challenge"), on the real stack: the PP-OCR classifier, its registered
 * commitment, real onnxruntime traces, the FraudProofResolver and the oracle. Before: only the first
 * challenger could prove, so a worker's second address (a sock) challenged its own wrong result first
 * (or front-ran the honest challenger), "proved" one correct element (or nothing, waiting for the
 * default), which ended the dispute for the worker and settled the wrong output; the sock's bond went to
 * the worker: the attack cost only gas. Now (docs/V2.md §5): every later challenger joins the open
 * dispute until its deadline and any joiner proves; a correct element proves nothing and ends nothing;
 * and `burnBps` of every slash is burned, so worker + sock always lose on the worker's proven fault.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { StepProofBuilder } from "../../challenger/onestep.js";
import { checkTrace } from "../../challenger/checker.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { commitTrace } from "../../protocol/trace.js";
import { hashTensor, type Tensor } from "../../protocol/tensor.js";
import { clsCommitment, clsInput, copy, nodeTrace } from "../challenger/fixtures.js";
import { deploy, events, expectRevert, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Connection } from "../contracts/helpers.js";
import { bindResultTrace, challengeResult, deployVerifier, inputHash } from "../fraud/helpers.js";

const BOND = PARAMS.challengeBond;
const BURN = (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / 10_000n;
const DURATION = 86400;

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
  const fraud: any = await fx.ethers.deployContract("FraudProofResolver", [fx.oracleAddr, await fx.registry.getAddress(), await verifier.getAddress(), DURATION, 3600, 3600]);
  await fx.registry.connect(fx.admin).setResolverApproval(await fraud.getAddress(), true);
  await fx.registry.connect(fx.modelOwner).registerModel(commitment.modelHash, modelInfo({ tiers: 2, resolver: await fraud.getAddress(), commitmentRoot: commitment.root }));
  await fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, commitment.traceTypes.length);
  return { ...fx, fraud };
}
type Fx = Awaited<ReturnType<typeof setup>>;

/** Worker 0 submits a trace with one Conv element moved; returns the dispute's pieces (not yet challenged). */
async function cheat(fx: Fx) {
  const tensors = honest.map(copy);
  const conv = commitment.operators.filter((o) => o.opType === "Conv")[20]!;
  const t = tensors[conv.outputs[0]!.trace]!.data as Float32Array;
  const element = 50;
  t[element] = t[element]! * 1.001 + 1e-3;
  expect(checkTrace(commitment, { input, tensors }).fault).toMatchObject({ opIndex: conv.index, element });
  const { traceRoot } = commitTrace(tensors);
  const { id, receipt } = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: inputHash(input), outputHash: hashTensor(tensors.at(-1)!), traceRoot });
  const builder = new StepProofBuilder(commitment, { input, tensors });
  // An element the sock "proves": a right one (the first element of the first Conv).
  const first = commitment.operators.find((o) => o.opType === "Conv")!;
  return { id, receipt, fault: builder.step(conv.index, 0, element), decoy: builder.step(first.index, 0, 0), decoyAt: [first.index, 0] as const };
}

/** What worker 0 (its stake, its pull balance) and the sock (fx.other, its pull balance) hold in the oracle; the
 * sock's bond comes from its wallet, so the coalition's net is the change of this less the sock's bond. */
async function coalition(fx: Fx): Promise<bigint> {
  const w = await fx.oracle.getWorker(fx.ops[0]!.address);
  return w.stake + (await fx.oracle.balanceOf(fx.ops[0]!.address)) + (await fx.oracle.balanceOf(fx.other.address));
}

describe("attack: a worker's sock opens the dispute on its wrong result (issue 11, scenario 1)", () => {
  const fixture = () => conn.networkHelpers.loadFixture(setup);

  it("test_sockSelfChallenge_honestJoinerProves_workerSlashed_sockLosesBurnShare", async () => {
    const fx = await fixture();
    const { id, receipt, fault, decoy, decoyAt } = await cheat(fx);
    const before = await coalition(fx);
    // The sock opens the dispute first and "proves" a correct element: that now reverts and ends nothing.
    await send(challengeResult(fx.oracle, fx.other, id, receipt, BOND));
    await bindResultTrace(fx.fraud, fx.oracle, id, receipt);
    await expectRevert(fx.fraud.connect(fx.other).proveFraud(id, decoy), fx.fraud, "FraudStepCorrect", [id, decoyAt[0], decoyAt[1]]);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));
    // The honest challenger joins the open dispute (after the challenge window closed) and proves.
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const joined = await send(challengeResult(fx.oracle, fx.challenger, id, receipt, BOND));
    expect(events(joined, fx.oracle, "DisputeJoined")).toHaveLength(1);
    const ruled = await send(fx.fraud.connect(fx.challenger).proveFraud(id, fault));
    const [res] = events(ruled, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    // Both joiners claim the same share; the sock's is the worker's slash less its burn, split in two.
    await send(fx.oracle.connect(fx.other).claimDispute(id, 0));
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    const share = (PARAMS.resultBond - BURN + 2n * BOND) / 2n;
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(share);
    // Worker + sock: the result bond and the sock's bond went in, one share came back: a loss of at least the burn.
    const net = (await coalition(fx)) - before - BOND;
    expect(net).toBe(share - PARAMS.resultBond - BOND);
    expect(-net >= BURN).toBe(true);
  }, 120_000);

  it("test_sockAlone_neverProves_defaultWorkerRight_sockLosesBurnOfItsBond", async () => {
    const fx = await fixture();
    const { id, receipt } = await cheat(fx);
    const before = await coalition(fx);
    await send(challengeResult(fx.oracle, fx.other, id, receipt, BOND));
    // Nobody else noticed; the sock waits for the default. The worker gets the sock's bond less the burn.
    await conn.networkHelpers.time.increase(DURATION);
    await send(fx.oracle.resolveDisputeByDefault(id));
    const net = (await coalition(fx)) - before - BOND;
    expect(net).toBe(-(BOND * BigInt(PARAMS.burnBps)) / 10_000n);
  }, 120_000);

  it("test_sockFrontRunsHonestChallenge_honestTxJoins_andProves_frontRunGainsNothing", async () => {
    const fx = await fixture();
    const { id, receipt, fault } = await cheat(fx);
    const before = await coalition(fx);
    // The sock's challenge lands first (front-run); the honest challenger's identical transaction
    // does not fail: it joins.
    await send(challengeResult(fx.oracle, fx.other, id, receipt, BOND));
    const honestTx = await send(challengeResult(fx.oracle, fx.challenger, id, receipt, BOND));
    expect(events(honestTx, fx.oracle, "DisputeJoined")[0]!.args.challenger).toBe(fx.challenger.address);
    await bindResultTrace(fx.fraud, fx.oracle, id, receipt);
    // The sock also front-runs the honest proof with a copy: the ruling is the same WorkerFault and the
    // shares are equal whoever proves, so copying the proof buys the sock nothing either.
    const copied = await send(fx.fraud.connect(fx.other).proveFraud(id, fault));
    expect(events(copied, fx.oracle, "DisputeResolved")[0]!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
    await expectRevert(fx.fraud.connect(fx.challenger).proveFraud(id, fault), fx.fraud, "FraudOnlyChallenger", [id, fx.challenger.address]);
    await send(fx.oracle.connect(fx.other).claimDispute(id, 0));
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    const share = (PARAMS.resultBond - BURN + 2n * BOND) / 2n;
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(share);
    expect(share > BOND).toBe(true); // the honest challenger still wins
    const net = (await coalition(fx)) - before - BOND;
    expect(-net >= BURN).toBe(true);
  }, 120_000);
});
