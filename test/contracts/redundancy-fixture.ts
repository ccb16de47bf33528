/**
 * Fixture of the redundancy tests (contracts/redundancy/RedundantInference.sol): the oracle deployment of
 * helpers.ts (three staked workers, the arbiter resolver), RedundantInference, the example
 * RedundantClassifierDApp and the hostile requester, and helpers to request a job, answer, settle and
 * attest its requests through the real oracle.
 */
import { hashEncoded } from "../../protocol/tensor.js";
import { batchSubmission, deploy, events, record, send, tensorF32, INPUT, MODEL_HASH, PARAMS, type Connection, type Fx } from "./helpers.js";

export const JobStatus = { None: 0, Open: 1, Agreed: 2, Disagreed: 3, Incomplete: 4 } as const;
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

export async function jobRequest(fx: Fx, o: { k?: number; reserve?: number; fee?: bigint; deadline?: bigint; consumerGas?: number } = {}) {
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
  };
}

/** Requests a job from `from` (default the requester EOA, or a contract with request(r)); returns its id and request ids. */
export async function requestJob(fx: RFx, o: Parameters<typeof jobRequest>[1] & { via?: any; from?: any } = {}) {
  const r = await jobRequest(fx, o);
  const value = (BigInt(r.k) + BigInt(r.reserve)) * r.fee;
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
  return send(fx.oracle.connect(fx.relayer).submitBatch(sub, { gasLimit: 5_000_000 }));
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
