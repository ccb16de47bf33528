/**
 * The challenger daemon end to end on the real oracle and the real cls model: results are submitted
 * on-chain, traces published to a blob store over HTTP (the relayer's PUT/GET /blobs protocol) with
 * the worker's publishTrace, and the daemon audits each one from its ResultSubmitted event.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { checkTrace } from "../../challenger/checker.js";
import { ChallengerDaemon, outputsDisagree } from "../../challenger/daemon.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { encodeTensor, hashEncoded, hashTensor, type Tensor } from "../../protocol/tensor.js";
import { commitTrace } from "../../protocol/trace.js";
import { publishTrace } from "../../worker/trace.js";
import { blobStore, clsCommitment, clsInput, copy, nodeTrace } from "../challenger/fixtures.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Status, type Connection } from "../contracts/helpers.js";
import { deployVerifier } from "./helpers.js";

let conn: Connection;
let store: Awaited<ReturnType<typeof blobStore>>;
let commitment: ModelCommitment;
let input: Tensor;
let honest: Tensor[];

beforeAll(async () => {
  conn = await network.create();
  store = await blobStore();
  commitment = await clsCommitment();
  input = clsInput();
  honest = await nodeTrace(input, { level: "all", threads: 1 });
});
afterAll(() => new Promise<void>((resolve) => store.server.close(() => resolve())));

/**
 * A fresh oracle with the classifier registered with a FraudProofResolver (commitment root and trace
 * count set), and the request input in the blob store.
 */
async function fraudFixture() {
  const fx = await deploy(conn);
  const verifier = await deployVerifier(fx.ethers);
  const fraud: any = await fx.ethers.deployContract("FraudProofResolver", [fx.oracleAddr, await fx.registry.getAddress(), await verifier.getAddress(), 86400, 3600, 3600]);
  await fx.registry.connect(fx.admin).setResolverApproval(await fraud.getAddress(), true);
  await fx.registry.connect(fx.modelOwner).registerModel(commitment.modelHash, modelInfo({ tiers: 2, resolver: await fraud.getAddress(), commitmentRoot: commitment.root }));
  await fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, commitment.traceTypes.length);
  const encodedInput = encodeTensor(input);
  store.blobs.set(hashEncoded(encodedInput).toLowerCase(), encodedInput);
  return fx;
}

describe("ChallengerDaemon", () => {
  it("test_daemon_auditsResults_provesFraud_catchesWithheld_leavesHonest", async () => {
    const fx = await fraudFixture();

    const submit = async (w: number, tensors: Tensor[], publish: boolean) => {
      const run = commitTrace(tensors);
      if (publish) await publishTrace(store.url, { ...run, tensors }, { timeoutMs: 10_000 });
      return requestAndSubmit(fx, w, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(tensors.at(-1)!), traceRoot: run.traceRoot });
    };
    const cheating = honest.map(copy);
    const bn = commitment.operators.filter((o) => o.opType === "BatchNormalization")[3]!;
    (cheating[bn.outputs[0]!.trace]!.data as Float32Array)[7]! *= -1.5;
    const good = await submit(0, honest, true);
    const bad = await submit(1, cheating, true);
    const hidden = await submit(2, honest.map(copy).map((t, i) => (i === 3 ? { ...t, data: (t.data as Float32Array).map((v) => v + 1) } : t)), false);

    const daemon = new ChallengerDaemon({
      oracleAddress: fx.oracleAddr,
      runner: fx.challenger,
      blobStoreUrl: store.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction: 1, maxBondAtRisk: 2n * PARAMS.challengeBond },
    });
    const outcomes = await daemon.poll();
    expect(outcomes.get(good.id)).toMatchObject({ kind: "honest" });
    expect(outcomes.get(bad.id)).toMatchObject({ kind: "fraudProven", opIndex: bn.index, workerAtFault: true });
    expect(outcomes.get(hidden.id)).toEqual({ kind: "availabilityChallenged" });
    expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Submitted));
    expect(await fx.oracle.state(bad.id)).toBe(BigInt(Status.Requested)); // slashed and reopened
    expect(await fx.oracle.state(hidden.id)).toBe(BigInt(Status.Challenged));
    expect(daemon.bondAtRisk()).toBe(PARAMS.challengeBond);
    expect(await daemon.poll()).toHaveLength(0); // nothing new

    expect(await daemon.slashDue()).toEqual([]); // DA deadline not reached
    await conn.networkHelpers.time.increase(3600);
    expect(await daemon.slashDue()).toEqual([hidden.id]);
    expect(await fx.oracle.state(hidden.id)).toBe(BigInt(Status.Requested));
    expect(daemon.bondAtRisk()).toBe(0n);
    const won = await daemon.withdraw();
    // Each won dispute: the bond back plus the slash less its burn share (claimed by the daemon).
    expect(won).toBe(2n * (PARAMS.challengeBond + PARAMS.resultBond - (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / 10_000n));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(0n);
  }, 300_000);

  it("test_daemon_disputeOpenedBySock_pastTheWindow_joinsAndProves_claimsShare", async () => {
    const fx = await fraudFixture();
    const cheating = honest.map(copy);
    const bn = commitment.operators.filter((o) => o.opType === "BatchNormalization")[3]!;
    (cheating[bn.outputs[0]!.trace]!.data as Float32Array)[7]! *= -1.5;
    const run = commitTrace(cheating);
    await publishTrace(store.url, { ...run, tensors: cheating }, { timeoutMs: 10_000 });
    const bad = await requestAndSubmit(fx, 1, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(cheating.at(-1)!), traceRoot: run.traceRoot });
    // The worker's sock opens the dispute (and will never prove); the challenge window then closes.
    await (await fx.oracle.connect(fx.other).challenge(bad.id, bad.rec, [], { value: PARAMS.challengeBond })).wait();
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
    const labels: string[] = [];
    const daemon = new ChallengerDaemon({
      oracleAddress: fx.oracleAddr,
      runner: fx.challenger,
      blobStoreUrl: store.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction: 1, maxBondAtRisk: PARAMS.challengeBond },
      onTransaction: (tx) => labels.push(tx.label),
    });
    const outcomes = await daemon.poll();
    // Joined instead of skipped, proven, claimed.
    expect(outcomes.get(bad.id)).toMatchObject({ kind: "fraudProven", opIndex: bn.index, workerAtFault: true });
    expect(labels).toEqual(["challenge", "bindTrace", "proveFraud", "claimDispute"]);
    expect(await fx.oracle.state(bad.id)).toBe(BigInt(Status.Requested));
    const d = await fx.oracle.getDispute(bad.id, 0);
    expect(d.opener).toBe(fx.other.address);
    expect(d.joiners).toBe(2n);
    const share = (PARAMS.resultBond - (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / 10_000n + 2n * PARAMS.challengeBond) / 2n;
    expect(await daemon.withdraw()).toBe(share);
  }, 300_000);

  it("test_daemon_sampledCheckMisses_rerunDisagrees_fullCheckProvesFraud", async () => {
    const fx = await fraudFixture();

    // One wrong element of the final output (its Softmax): a sampled check reads one of its two elements.
    const cheating = honest.map(copy);
    (cheating.at(-1)!.data as Float32Array)[1]! += 0.25;
    const fraction = 0.001;
    const seed = Array.from({ length: 64 }, (_, i) => i + 1).find((s) => checkTrace(commitment, { input, tensors: cheating }, { fraction, seed: s }).ok);
    expect(seed, "a seed whose sample misses the wrong element").toBeDefined();

    const run = commitTrace(cheating);
    await publishTrace(store.url, { ...run, tensors: cheating }, { timeoutMs: 10_000 });
    const bad = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(cheating.at(-1)!), traceRoot: run.traceRoot });
    const options = {
      oracleAddress: fx.oracleAddr,
      runner: fx.challenger,
      blobStoreUrl: store.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction, seed: seed!, maxBondAtRisk: PARAMS.challengeBond },
    };
    // Sampling alone misses it...
    expect((await new ChallengerDaemon(options).poll()).get(bad.id)).toMatchObject({ kind: "honest" });
    // ...a re-run of the model (onnxruntime on the same input) disagrees, the full check finds it.
    let reruns = 0;
    const daemon = new ChallengerDaemon({ ...options, rerun: async () => (reruns++, (await nodeTrace(input, { level: "all", threads: 1 })).at(-1)) });
    expect((await daemon.poll()).get(bad.id)).toMatchObject({ kind: "fraudProven", opIndex: commitment.operators.at(-1)!.index, element: 1, workerAtFault: true });
    expect(reruns).toBe(1);
    expect(await fx.oracle.state(bad.id)).toBe(BigInt(Status.Requested)); // slashed and reopened
  }, 300_000);

  it("test_outputsDisagree_floatNoiseNo_realDifferenceYes", () => {
    const t = (data: number[]): Tensor => ({ dtype: "float32", shape: [1, data.length], data: Float32Array.from(data) });
    expect(outputsDisagree(t([0.25, 0.75]), t([0.25 + 1e-7, 0.75 - 1e-7]))).toBe(false);
    expect(outputsDisagree(t([0.25, 0.75]), t([0.25, 0.76]))).toBe(true);
    expect(outputsDisagree(t([0.25, 0.75]), t([0.25, 0.75, 0]))).toBe(true);
    expect(outputsDisagree({ dtype: "int8", shape: [2], data: Int8Array.from([1, 2]) }, { dtype: "int8", shape: [2], data: Int8Array.from([1, 3]) })).toBe(true);
  });

  it("test_daemon_bondBudget_skipsWhenExhausted", async () => {
    const fx = await fraudFixture();
    const { id } = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(honest.at(-1)!), traceRoot: "0x" + "ab".repeat(32) });
    const daemon = new ChallengerDaemon({
      oracleAddress: fx.oracleAddr,
      runner: fx.challenger,
      blobStoreUrl: store.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction: 0.01, maxBondAtRisk: PARAMS.challengeBond - 1n },
    });
    expect((await daemon.poll()).get(id)).toEqual({ kind: "skipped", reason: "bond budget exhausted" });
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
  }, 120_000);
});
