/**
 * Fixture of the redundancy tests (contracts/redundancy/RedundantInference.sol): the oracle deployment of
 * helpers.ts (three staked workers, the arbiter resolver), RedundantInference, the example
 * RedundantClassifierDApp and the hostile requester, and helpers to request a job, answer, settle and
 * attest its requests through the real oracle.
 */
import { solidityPackedSha256 } from "ethers";
import { hashEncoded, packBatch } from "../../protocol/index.js";
import { batchSubmission, deploy, events, record, send, tensorF32, INPUT, MODEL_HASH, PARAMS, type Connection, type Fx } from "./helpers.js";

export const JobStatus = { None: 0, Open: 1, Agreed: 2, Disagreed: 3, Incomplete: 4, Comparing: 5 } as const;
export const AnswerStatus = { None: 0, Requested: 1, Delivered: 2, Counted: 3, Duplicate: 4, Refunded: 5, Replaced: 6 } as const;
export const JOB_FEE = 10n ** 16n;
export const GOOD = tensorF32([1, 2], [0.9, 0.1]);
export const GOOD_HASH = hashEncoded(GOOD);
export const BAD = tensorF32([1, 2], [0.1, 0.9]);
export const BAD_HASH = hashEncoded(BAD);

export async function deployRedundant(conn: Connection) {
  const fx = await deploy(conn);
  // The deployment's own RedundantInference (protocol/deployment.ts places it).
  const redundant: any = fx.redundant;
  const redundantAddr: string = await redundant.getAddress();
  const dapp: any = await fx.ethers.deployContract("RedundantClassifierDApp", [redundantAddr, MODEL_HASH], fx.requester);
  const hostile: any = await fx.ethers.deployContract("HostileRedundantRequester", [redundantAddr]);
  return { ...fx, redundant, redundantAddr, dapp, hostile };
}
export type RFx = Awaited<ReturnType<typeof deployRedundant>>;

export async function latest(fx: Fx): Promise<bigint> {
  return BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
}

export async function jobRequest(fx: Fx, o: { k?: number; reserve?: number; fee?: bigint; deadline?: bigint; consumerGas?: number; attestReward?: bigint } = {}) {
  return {
    modelHash: MODEL_HASH,
    inputHash: "0x" + "00".repeat(32),
    input: INPUT,
    inputURI: "",
    k: o.k ?? 2,
    reserve: o.reserve ?? 1,
    fee: o.fee ?? JOB_FEE,
    deadline: o.deadline ?? (await latest(fx)) + 86_400n,
    consumerGas: o.consumerGas ?? 0,
    attestReward: o.attestReward ?? 0n,
  };
}

/** Requests a job from `from` (default the requester EOA, or a contract with request(r)); returns its id and request ids. */
export async function requestJob(fx: RFx, o: Parameters<typeof jobRequest>[1] & { via?: any; from?: any } = {}) {
  const r = await jobRequest(fx, o);
  const value = (BigInt(r.k) + BigInt(r.reserve)) * r.fee + (BigInt(r.k) + BigInt(r.reserve) + 1n) * r.attestReward;
  const receipt = o.via
    ? await send(o.via.connect(o.from ?? fx.requester).request(r, { value }))
    : await send(fx.redundant.connect(o.from ?? fx.requester).request(r, { value }));
  const [ev] = events(receipt, fx.redundant, "JobRequested");
  const ids = events(receipt, fx.redundant, "AnswerRequested").map((e) => e.args.requestId as string);
  return { jobId: ev!.args.jobId as bigint, ids, receipt, value };
}

/** Worker `w` submits `output` for `id` (one-item batch). */
export async function answer(fx: Fx, id: string, output: Uint8Array, w: number) {
  const sub = await batchSubmission(fx, [id], fx.signers[w]!, { output, outputHash: hashEncoded(output) });
  return send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 5_000_000 }));
}

export function rec(fx: Fx, w: number, output: Uint8Array) {
  return record(fx.ops[w]!.address, fx.relayer.address, hashEncoded(output));
}

/** Settles `id` (answered by worker `w` with `output`) after its challenge window. */
export async function settle(conn: Connection, fx: Fx, id: string, w: number, output: Uint8Array, wait = true) {
  if (wait) await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
  return send(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec(fx, w, output), output, proof: [] }));
}

/** Attests `id` as answered by worker `w` with `output` (a one-item batch: empty proof). */
export async function attest(fx: RFx, id: string, w: number, output: Uint8Array) {
  return send(fx.redundant.connect(fx.other).attest(id, rec(fx, w, output), []));
}

/** binary64 bits of `x` (the registry's tolerance format). */
export function f64(x: number): bigint {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.readBigUInt64BE();
}

/** τ_out of deployRedundantTau: |a − b| ≤ 1e-3 + 1e-2·|b|, both ways. */
export const TAU = { abs: 1e-3, rel: 1e-2 };

/** deployRedundant with canonical terms set on MODEL_HASH (made-up roots: the registry checks only the commitment's parts). */
export async function deployRedundantTau(conn: Connection) {
  const fx = await deployRedundant(conn);
  const parts = { semanticsVersion: 1, precision: 0, stepCount: 3, weightsRoot: "0x" + "11".repeat(32), programRoot: "0x" + "22".repeat(32) };
  const commitment = solidityPackedSha256(["uint8", "uint8", "uint8", "uint32", "bytes32", "bytes32"], [5, parts.semanticsVersion, parts.precision, parts.stepCount, parts.weightsRoot, parts.programRoot]);
  await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(MODEL_HASH, {
    ...parts, commitment, tauOutAbs: f64(TAU.abs), tauOutRel: f64(TAU.rel), tauMajorAbs: f64(1), tauMajorRel: f64(0.5),
  }));
  return fx;
}

/** Requests a k-job, has workers[i] answer outputs[i], settles and attests every answer (in request order). */
export async function answeredJob(conn: Connection, fx: RFx, outputs: Uint8Array[], o: Parameters<typeof jobRequest>[1] & { workers?: number[]; attester?: any } = {}) {
  const job = await requestJob(fx, { k: outputs.length, reserve: 0, ...o });
  const workers = o.workers ?? outputs.map((_, i) => i);
  for (const [i, id] of job.ids.entries()) await answer(fx, id, outputs[i]!, workers[i]!);
  await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
  for (const [i, id] of job.ids.entries()) await settle(conn, fx, id, workers[i]!, outputs[i]!, false);
  for (const [i, id] of job.ids.entries()) await send(fx.redundant.connect(o.attester ?? fx.other).attest(id, rec(fx, workers[i]!, outputs[i]!), []));
  return job;
}
