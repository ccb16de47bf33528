/**
 * FraudGame end to end with the real InferenceOracle (v2 dispute side: challenge opens the game through
 * IDisputeResolverV2, joiners through isChallenger, the game's ruling through resolveDispute) and the real
 * StepVerifier, on the PP-OCR cls program run canonically:
 * - a cheater (one flipped map element in its trace) is slashed by a joiner's leaf proof; the joiners' shares are
 *   claimable and the request reopens;
 * - an honest worker whose trace is never faulted keeps its result: resolve → WorkerRight, the result settles;
 * - a worker that never commits its trace is slashed by timeout.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, stepLeaf } from "../../canonical/index.js";
import {
  weightLeaves,
  fraudGameDomain,
  signTraceCommitment,
  merklePath,
  bytesToHex,
  encodeTensor,
  hashTensor,
  type Tensor,
  type Hex,
} from "../../protocol/index.js";
import { chunkProofOf as chunkProof } from "./game-proof-helpers.js";
import { deploy, events, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Fx } from "../contracts/helpers.js";
import { clsWorld, MAX_ATTACKS, MOVE_CLOCK, RESPONSE_TIME, stepVerifierAddress, TraceBook, withElement, type ClsWorld, type Connection } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
});

async function setup() {
  const fx: Fx = await deploy(conn);
  const verifier = await stepVerifierAddress(conn);
  expect(verifier.real).toBe(true);
  const game: any = await fx.ethers.deployContract("FraudGame", [fx.oracleAddr, await fx.registry.getAddress(), verifier.address, RESPONSE_TIME, MOVE_CLOCK, MAX_ATTACKS]);
  const gameAddr: string = await game.getAddress();
  await fx.registry.connect(fx.admin).setResolverApproval(gameAddr, true);
  await fx.registry.connect(fx.modelOwner).registerModel(world.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 }));
  await fx.registry.connect(fx.modelOwner).setCanonicalTerms(world.modelHash, world.terms);
  return { fx, game, gameAddr, verifier: verifier.contract };
}

async function disputed(s: Awaited<ReturnType<typeof setup>>, signed: Tensor) {
  const { fx } = s;
  const { id, rec } = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(signed) });
  const rc = await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
  return { id: id as string, rec, rc };
}

async function commitAs(s: Awaited<ReturnType<typeof setup>>, id: string, book: TraceBook) {
  const { fx, game, gameAddr } = s;
  const final = book.tensorHashes[book.n - 1]!;
  const sig = await signTraceCommitment(fx.signers[0]!, fraudGameDomain(fx.chainId, gameAddr), { requestId: id as Hex, attempt: 0, traceRoot: bytesToHex(book.root), finalHash: bytesToHex(final) });
  await send(game.connect(fx.relayer).commitTrace(id, bytesToHex(book.root), bytesToHex(final), book.manifestPath(book.n - 1), sig));
}

describe("FraudGame with InferenceOracle", () => {
  it("test_e2e_cheaterCaughtByJoiner_slashedAndReopened", async () => {
    const s = await setup();
    const { fx, game, verifier } = s;
    const step = world.program.steps.find((x) => x.kind === "map" && x.output.dtype === "float32" && x.index > 2)!;
    const j = step.index;
    const t = world.honest.tensors[j]!;
    const cheat = new TraceBook(world.honest.tensors.map((x, i) => (i === j ? withElement(t, 0, (t.data as Float32Array)[0]! + 1) : x)));
    const { id, rec, rc } = await disputed(s, cheat.tensors[cheat.n - 1]!);
    expect(events(rc, game, "GameOpened")).toHaveLength(1);
    const d = await fx.oracle.getDispute(id, 0);
    expect(d.resolver).toBe(s.gameAddr);
    expect(d.defaultRuling).toBe(BigInt(Ruling.WorkerRight));
    await commitAs(s, id, cheat);
    // A second challenger joins through the oracle and proves the false step.
    await send(fx.oracle.connect(fx.other).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    expect(await fx.oracle.isChallenger(id, fx.other.address)).toBe(true);
    const enc = encodeStep(step);
    const reads = [...(await verifier.reads(enc, 0))].map((r: any) => ({ operand: Number(r.operand), index: Number(r.index) }));
    const wLeaves = weightLeaves(world.program.weights);
    const ops = reads.map((r) => {
      const op = step.operands[r.operand]!;
      if (op.source === "input") return chunkProof(encodeTensor(world.input), r.index, []);
      if (op.source === "weight") return chunkProof(encodeTensor(world.program.weights[op.index]!.tensor), r.index, merklePath(wLeaves, op.index).map(bytesToHex));
      return chunkProof(encodeTensor(cheat.tensors[op.index]!), r.index, cheat.manifestPath(op.index));
    });
    const programPath = merklePath(world.program.steps.map(stepLeaf), j).map(bytesToHex);
    const receipt = await send(game.connect(fx.other).proveStep(id, j, 0, enc, programPath, chunkProof(encodeTensor(cheat.tensors[j]!), 0, cheat.manifestPath(j)), ops));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Requested));
    // Both joiners' shares are claimable.
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    await send(fx.oracle.connect(fx.other).claimDispute(id, 0));
    expect(await fx.oracle.balanceOf(fx.other.address)).toBeGreaterThan(PARAMS.challengeBond);
  });

  it("test_e2e_honestWorker_resolvesWorkerRight_andSettles", async () => {
    const s = await setup();
    const { fx, game } = s;
    const { id, rec } = await disputed(s, world.honest.tensors[world.honest.n - 1]!);
    await commitAs(s, id, world.honest);
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    const receipt = await send(game.resolve(id));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerRight));
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
    // The result stands and settles at once.
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Submitted));
    await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Fulfilled));
  });

  it("test_e2e_silentWorker_slashedByTimeout", async () => {
    const s = await setup();
    const { fx, game } = s;
    const { id } = await disputed(s, world.honest.tensors[world.honest.n - 1]!);
    await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
    const receipt = await send(game.connect(fx.other).timeoutCommitment(id));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
  });
});

