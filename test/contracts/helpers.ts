/**
 * Shared fixtures and helpers for the contract tests: one deployment (registry, oracle, arbiter
 * resolver, test zk verifier, a registered model, three staked workers) and small wrappers that sign
 * with the real protocol code (protocol/eip712.ts, protocol/tensor.ts).
 */
import { expect } from "vitest";
import { network } from "hardhat";
import { Contract, Wallet, ZeroHash, id as keccakUtf8, keccak256, AbiCoder, type BaseContract, type Signer, type TransactionReceipt } from "ethers";
import {
  oracleDomain,
  signRejection,
  signResultBatch,
  packBatch,
  submittedFromLogs,
  type SubmittedResult,
  deployContracts,
  loadDeployConfig,
  QUIET_PROGRESS,
  type GameTimes,
  encodeTensor,
  hashEncoded,
  sha256,
  bytesToHex,
  type Hex,
  type RequestId,
} from "../../protocol/index.js";

export const Tier = { NONE: 0, OPTIMISTIC: 1, ZK: 2 } as const;
export const Status = { None: 0, Requested: 1, Submitted: 2, Challenged: 3, Fulfilled: 4, Refunded: 5 } as const;
export const Refund = { Expired: 0, RejectedByWorker: 1, WorkerFaultAfterDeadline: 2, TooManyFaults: 3, CancelledByRequester: 4, InputTypeMismatch: 5 } as const;
export const Ruling = { None: 0, WorkerRight: 1, WorkerFault: 2, OutputMinor: 3 } as const;

export const ETH = 10n ** 18n;
export const PARAMS = {
  minStake: ETH,
  resultBond: ETH / 10n,
  challengeBond: ETH / 20n,
  minWorkerFee: 10n ** 15n,
  challengeWindow: 3600,
  unbondingDelay: 7 * 86400,
  relayerFeeBps: 1000,
  maxInlineInputBytes: 4096,
  maxInlineOutputBytes: 4096,
  maxCallbackGasLimit: 1_000_000,
  paramsDelay: 86_400,
  minGasPrice: 1_000_000_000n, // 1 gwei
  rejectionQuorum: 2, // of the three staked workers below
  burnBps: 2000,
  tolerancePenaltyBps: 2500,
};
export const MODEL_FEE = 2n * 10n ** 15n;
export const FEE = 10n ** 16n; // default request fee
export const RULE_WITHIN = 86400;
export const MODEL_HASH = bytesToHex(sha256(Buffer.from("ch_ppocr_mobile_v2.0_cls_infer.onnx"))) as Hex;

export type Connection = Awaited<ReturnType<typeof network.create>>;

export function tensorF32(shape: number[], values: number[]): Buffer {
  return encodeTensor({ dtype: "float32", shape, data: Float32Array.from(values) });
}

export const INPUT = tensorF32([1, 4], [0.1, 0.2, 0.3, 0.4]);
export const INPUT_HASH = hashEncoded(INPUT) as Hex;
export const OUTPUT = tensorF32([1, 2], [0.9, 0.1]);
export const OUTPUT_HASH = hashEncoded(OUTPUT) as Hex;
export const TRACE_ROOT = keccakUtf8("trace") as Hex;

export function modelInfo(over: Partial<Record<string, unknown>> = {}) {
  return {
    owner: "0x0000000000000000000000000000000000000000",
    fee: MODEL_FEE,
    tiers: 7,
    active: true,
    resolver: "0x0000000000000000000000000000000000000000",
    zkVerifier: "0x0000000000000000000000000000000000000000",
    commitmentRoot: ZeroHash,
    input: { dtype: 1, shape: [1, 3, 48, 192] },
    output: { dtype: 1, shape: [1, 2] },
    uris: ["ipfs://cls"],
    ...over,
  };
}

/** Deterministic signer keys (they only sign; they never need ether). */
export function signerWallet(i: number): Wallet {
  return new Wallet(keccakUtf8(`worker-signer-${i}`));
}

/**
 * The contract tests' deployment, made by the one deployment procedure (protocol/deployment.ts, as `oracle deploy`
 * makes it, with plain CREATE): registry, oracle (PARAMS), the arbiter resolver (RULE_WITHIN), the ZkDisputeResolver
 * and the features' contracts, with `game` also the step verifier and the FraudGame on those clocks. Then a test zk
 * verifier, the model registered and three staked workers.
 */
export async function deploy(conn: Connection, options: { game?: GameTimes } = {}) {
  const { ethers } = conn;
  const all = await ethers.getSigners();
  const at = (i: number) => all[i]!;
  const [admin, modelOwner, requester, relayer, challenger, arbiter, op1, op2, op3, other] = [
    at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8), at(9),
  ] as const;
  const config = loadDeployConfig({ arbiter: arbiter.address, disputeWindow: RULE_WITHIN, fraudGame: options.game !== undefined, ...(options.game === undefined ? {} : { game: options.game }), params: PARAMS });
  const d = await deployContracts(admin, config, QUIET_PROGRESS, undefined, { salt: false });
  // Contracts are typed loosely (`any`): tests pass plain objects for structs and read decoded event args.
  const contract = (address: string | undefined, name: string): any => {
    if (address === undefined) throw new Error(`the deployment placed no ${name}`);
    return ethers.getContractAt(name, address);
  };
  const registry: any = await contract(d.registry, "ModelRegistry");
  const oracle: any = await contract(d.oracle, "InferenceOracle");
  const oracleAddr: string = d.oracle;
  const resolver: any = await contract(d.resolver, "ArbiterResolver");
  const zkResolver: any = await contract(d.zkResolver, "ZkDisputeResolver");
  const subscriptions: any = await contract(d.subscriptions, "InferenceSubscriptions");
  const chained: any = await contract(d.chained, "ChainedInference");
  const redundant: any = await contract(d.redundant, "RedundantInference");
  const game: any = d.fraudGame === undefined ? undefined : await contract(d.fraudGame, "FraudGame");
  const zk: any = await ethers.deployContract("TestZkVerifier", []);
  await registry.setResolverApproval(await zk.getAddress(), true);
  await registry
    .connect(modelOwner)
    .registerModel(MODEL_HASH, modelInfo({ resolver: await resolver.getAddress(), zkVerifier: await zk.getAddress() }));
  const ops = [op1, op2, op3];
  const signers = [signerWallet(1), signerWallet(2), signerWallet(3)];
  for (let i = 0; i < 3; i++) await oracle.connect(ops[i]).registerWorker(signers[i]!.address, { value: 2n * ETH });
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const domain = oracleDomain(chainId, oracleAddr);
  return { ethers, admin, modelOwner, requester, relayer, challenger, arbiter, other, ops, signers, registry, oracle, resolver, zk, zkResolver, subscriptions, chained, redundant, game, domain, oracleAddr, chainId };
}
export type Fx = Awaited<ReturnType<typeof deploy>>;

/** Finds revert data anywhere in an ethers / EDR error. */
function revertData(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const stack: unknown[] = [e];
  while (stack.length) {
    const x = stack.pop();
    if (x === null || typeof x !== "object" || seen.has(x)) continue;
    seen.add(x);
    const o = x as Record<string, unknown>;
    if (typeof o.data === "string" && /^0x[0-9a-fA-F]*$/.test(o.data) && o.data.length >= 10) return o.data;
    for (const k of ["error", "info", "cause", "data", "revert", "receipt"]) if (k in o) stack.push(o[k]);
  }
  return undefined;
}

/** Awaits `p`, expects a revert with custom error `name` (decoded through `contract`'s ABI), returns its args. */
export async function expectRevert(p: Promise<unknown>, contract: BaseContract, name: string, args?: unknown[]): Promise<unknown[]> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected revert ${name}`).toBeDefined();
  const data = revertData(err);
  expect(data, `no revert data in ${String(err)}`).toBeDefined();
  const parsed = contract.interface.parseError(data!);
  expect(parsed?.name, `decoded ${data}`).toBe(name);
  if (args) expect([...parsed!.args].map(norm)).toEqual(args.map(norm));
  return [...parsed!.args];
}

/**
 * Sends a batch submission and expects every one of its items skipped (no accepted record, one
 * ResultSkipped per item) with the selector of custom error `name`: an item that cannot be accepted
 * never reverts the batch (only a bad signature or an unknown signer does).
 */
export async function expectSkipped(p: Promise<any>, contract: BaseContract, name: string): Promise<TransactionReceipt> {
  const receipt = await send(p);
  const selector = contract.interface.getError(name)!.selector;
  const skipped = events(receipt, contract, "ResultSkipped");
  expect(skipped.length, `expected items skipped with ${name}`).toBeGreaterThan(0);
  for (const e of skipped) expect(contract.interface.getError(e.args.reason)?.name ?? e.args.reason).toBe(name);
  for (const e of skipped) expect(e.args.reason).toBe(selector);
  expect(submittedOf(receipt, contract)).toHaveLength(0);
  return receipt;
}

function norm(v: unknown): unknown {
  if (typeof v === "number") return BigInt(v);
  if (typeof v === "string") return v.toLowerCase();
  return v;
}

/** Parsed logs of `contract` in a receipt. */
/** The accepted results of a receipt: the records of the oracle's ResultBatchSubmitted events (protocol/batch-wire.ts). */
export function submittedOf(receipt: TransactionReceipt | null, oracle: BaseContract): SubmittedResult[] {
  return submittedFromLogs(receipt?.logs ?? [], String(oracle.target));
}

export function events(receipt: TransactionReceipt | null, contract: BaseContract, name?: string) {
  const out: { name: string; args: any }[] = [];
  for (const log of receipt?.logs ?? []) {
    try {
      const parsed = contract.interface.parseLog(log);
      if (parsed && (name === undefined || parsed.name === name)) out.push({ name: parsed.name, args: parsed.args });
    } catch {
      /* another contract's log */
    }
  }
  return out;
}

export async function send(txp: Promise<any>): Promise<TransactionReceipt> {
  const tx = await txp;
  return (await tx.wait())!;
}

export interface RequestOpts {
  from?: Signer;
  modelHash?: string;
  inputHash?: string;
  input?: Uint8Array | string;
  inputURI?: string;
  tier?: number;
  callbackGasLimit?: number;
  deadline?: bigint | number;
  maxInlineOutput?: number;
  fee?: bigint;
  via?: Contract | BaseContract; // a consumer contract with request(params)
}

export async function now(fx: Fx): Promise<bigint> {
  const b = await fx.ethers.provider.getBlock("latest");
  return BigInt(b!.timestamp);
}

export async function requestParams(fx: Fx, o: RequestOpts = {}) {
  const deadline = o.deadline ?? (await now(fx)) + 86400n;
  return {
    modelHash: o.modelHash ?? MODEL_HASH,
    inputHash: o.inputHash ?? (o.input === undefined ? INPUT_HASH : ZeroHash),
    input: o.input ?? "0x",
    inputURI: o.inputURI ?? (o.input === undefined ? "ipfs://input" : ""),
    tier: o.tier ?? Tier.OPTIMISTIC,
    callbackGasLimit: o.callbackGasLimit ?? 0,
    deadline,
    maxInlineOutput: o.maxInlineOutput ?? 0,
  };
}

/** Sends a request, returns its id and receipt. */
export async function request(fx: Fx, o: RequestOpts = {}): Promise<{ id: RequestId; receipt: TransactionReceipt }> {
  const p = await requestParams(fx, o);
  const fee = o.fee ?? FEE;
  const receipt = o.via
    ? await send((o.via as any).connect(o.from ?? fx.requester).request(p, { value: fee }))
    : await send((fx.oracle as any).connect(o.from ?? fx.requester).requestInference(p, { value: fee }));
  const [ev] = events(receipt, fx.oracle, "InferenceRequested");
  return { id: ev!.args.requestId as RequestId, receipt };
}

export interface SubmissionOpts {
  outputHash?: string;
  output?: Uint8Array | string;
  proof?: string;
  domain?: ReturnType<typeof oracleDomain>;
  /** The request id the worker signs (default: the submitted one). */
  signedId?: string;
  /** The payee the worker signs (default fx.relayer); the zero address leaves the share to the worker. */
  payee?: string;
}

/** A worker-signed ResultBatch of one item (IInferenceOracle.ResultBatch), as submitBatch takes it. */
export async function submission(fx: Fx, id: string, signer: Wallet, o: SubmissionOpts = {}) {
  return batchSubmission(fx, [id], signer, o);
}

/** One worker-signed ResultBatch over `ids` (one signature), every item with the same options. */
export async function batchSubmission(fx: Fx, ids: string[], signer: Wallet, o: SubmissionOpts & { outputHashes?: string[] } = {}) {
  const payee = o.payee ?? fx.relayer.address;
  const hashes = ids.map((_, i) => o.outputHashes?.[i] ?? o.outputHash ?? OUTPUT_HASH);
  const signed = await signResultBatch(
    signer,
    o.domain ?? fx.domain,
    ids.map((id, i) => ({ requestId: o.signedId ?? id, outputHash: hashes[i]! })),
    payee,
  );
  return {
    payee,
    signature: signed.signature,
    items: ids.map((id, i) => ({ requestId: id, outputHash: hashes[i]!, output: o.output ?? "0x", proof: o.proof ?? "0x" })),
  };
}

export async function rejection(fx: Fx, id: string, signer: Wallet, reason = 1) {
  return signRejection(signer, fx.domain, { requestId: id as RequestId, reason });
}

export function record(worker: string, relayer: string, outputHash: string = OUTPUT_HASH) {
  return { worker, relayer, outputHash };
}

export function zkProof(modelHash: string, inputHash: string, outputHash: string): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes32", "bytes32"], [modelHash, inputHash, outputHash]));
}

/** Requests (OPTIMISTIC by default) and submits a result from worker `w` (0..2) relayed by fx.relayer. */
export async function requestAndSubmit(fx: Fx, w = 0, o: RequestOpts & SubmissionOpts = {}) {
  const { id } = await request(fx, o);
  const sub = await submission(fx, id, fx.signers[w]!, o);
  const receipt = await send((fx.oracle as any).connect(fx.relayer).submitBatch(...packBatch(sub)));
  return { id, receipt, rec: record(fx.ops[w]!.address, fx.relayer.address, sub.items[0]!.outputHash) };
}

export async function balance(fx: Fx, addr: string): Promise<bigint> {
  return fx.ethers.provider.getBalance(addr);
}

// ---------------------------------------------------------------- ERC-20 fees (IOracleTokenFees)

/** The model owner's terms in a test token: its fee and the least left for relayer and worker (token units). */
export const TOKEN_OWNER_FEE = 3n * 10n ** 6n;
export const TOKEN_MIN_WORKER_FEE = 10n ** 6n;
export const TOKEN_FEE = 10n ** 7n; // default token request amount

/** Deploys test token `kind` (contracts/test/TestTokens.sol), mints to the requester and other, and makes
 * the model accept it on the default terms (unless `accept` is false). */
export async function deployToken(fx: Fx, kind = "TestPermitToken", accept = true): Promise<any> {
  const token: any = await fx.ethers.deployContract(kind, []);
  for (const a of [fx.requester, fx.other]) await send(token.mint(a.address, 10n ** 12n));
  if (accept) await acceptToken(fx, await token.getAddress());
  return token;
}

export async function acceptToken(fx: Fx, token: string, ownerFee = TOKEN_OWNER_FEE, minWorkerFee = TOKEN_MIN_WORKER_FEE, accepted = true) {
  return send(fx.registry.connect(fx.modelOwner).setTokenTerms(MODEL_HASH, token, { accepted, ownerFee, minWorkerFee }));
}

export interface TokenRequestOpts extends RequestOpts {
  amount?: bigint;
  /** abi-encoded permit (protocol/permit.ts encodePermit); without one the requester approves first. */
  permit?: string;
  /** wei for the callback's gas (msg.value). */
  value?: bigint;
  approve?: boolean;
}

/** Sends a token request (approving the oracle first unless a permit is given), returns id and receipt. */
export async function tokenRequest(fx: Fx, token: any, o: TokenRequestOpts = {}): Promise<{ id: RequestId; receipt: TransactionReceipt }> {
  const p = await requestParams(fx, o);
  const from = o.from ?? fx.requester;
  const amount = o.amount ?? TOKEN_FEE;
  const tokenAddr: string = await token.getAddress();
  if (o.permit === undefined && o.approve !== false) await send(token.connect(from).approve(fx.oracleAddr, amount));
  const receipt = await send(
    (fx.oracle as any).connect(from).requestInferenceWithToken(p, tokenAddr, amount, o.permit ?? "0x", { value: o.value ?? 0n }),
  );
  const [ev] = events(receipt, fx.oracle, "InferenceRequested");
  return { id: ev!.args.requestId as RequestId, receipt };
}
