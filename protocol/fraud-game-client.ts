/**
 * Drives a deployed FraudGame (contracts/dispute/FraudGame.sol, docs/V2.md §5) from TypeScript: the two
 * off-chain players of issue 11.
 *
 * - `GameWorker` (the worker's responder): signs and posts the TraceCommitment prepared by
 *   worker/dispute.ts `prepareDispute`, then watches the game's NodeAttacked events and answers every
 *   attack on its nodes with `answerReveal` until the game is resolved.
 * - `GameChallenger` (the challenger's play): `claims()` is canonical/descent.ts's `WorkerClaims` over the
 *   contract (each call is one attack; it resolves with the worker's reveal read from the chain, or calls
 *   the game's `timeout` and rejects with `WorkerTimedOut` when the worker's clock ran out); `play()` runs
 *   the whole descent and submits the leaf proof (`proveStep`, `proveFold`, `proveHeader`), the tolerance
 *   proof (`proveOutput`) or nothing, then `resolve` once the game has ended.
 *
 * One sender per role: every transaction of a player is sent and awaited before its next one, so the
 * provider's nonce and gas estimate are always current. Each move is reported (`MoveRecord`: gas and
 * calldata bytes). Waiting is a hook (`wait`): production sleeps; a test on an in-process chain may move
 * time forward instead.
 */
import type { ContractTransactionResponse, Signer } from "ethers";
import { OracleError } from "./errors.js";
import { type DescentResult, type Finding, type OperandProof, type WorkerClaims, buildToleranceProof, checkFinding, descend, tauFromBits, toleranceCheck } from "../canonical/descent.js";
import { stepLeaf, encodeStep } from "../canonical/commitment.js";
import type { CanonicalTrace } from "../canonical/trace.js";
import { FlatTree } from "../canonical/tree.js";
import { CHUNK_BYTES, fromHex, bytesToHex } from "./merkle.js";
import { DTYPES, type Tensor } from "./tensor.js";
import type { Hex } from "./types.js";
import { fraudGameDomain, GAME_TREE, signTraceCommitment, traceCommitmentDigest, type GamePos } from "./fraud-game.js";
import type { DisputeResponder } from "../worker/dispute.js";
import { FraudGame__factory, type FraudGame } from "../types/ethers-contracts/index.js";

/** IDisputeGame.Ruling */
export const GAME_RULING = { None: 0, WorkerRight: 1, WorkerFault: 2, OutputMinor: 3 } as const;
/** IFraudGame.NodeState */
export const NODE_STATE = { None: 0, Revealed: 1, Attacked: 2, Answered: 3 } as const;

export interface MoveRecord {
  role: "worker" | "challenger";
  move: string;
  gas: bigint;
  /** The transaction's calldata bytes. */
  calldataBytes: number;
}

/** Why a player waits: for the other side's move ("answer"/"commit"), or for a clock to run out ("clock"). */
export type WaitReason = "answer" | "commit" | "clock" | "attack";

export interface GameClientOptions {
  /** Called between polls; default: sleep `pollMs`. */
  wait?: (reason: WaitReason) => Promise<void>;
  pollMs?: number;
  onMove?: (m: MoveRecord) => void;
  /** Give up after this many polls of one wait (default: unbounded). */
  maxPolls?: number;
  /** The first block the game's events are read from (its GameOpened block; default 0). A provider with a
   * bounded log range needs it. */
  fromBlock?: number;
  /** Runs each transaction (send and mine) under the caller's lock: a daemon whose other work shares this sender
   * serializes every transaction on one nonce sequence. Default: run at once. */
  serialize?: <T>(send: () => Promise<T>) => Promise<T>;
}

/** The worker let an attacked node's answer deadline pass; the challenger called `timeout` (WorkerFault). */
export class WorkerTimedOut extends OracleError {
  constructor(readonly pos: GamePos | "commitment") {
    const at = pos === "commitment" ? "its trace commitment" : `${["trace", "data", "partial", "element"][pos.tree]} node (step ${pos.step}, element ${pos.element}, height ${pos.height}, index ${pos.index})`;
    super("WORKER_TIMED_OUT", `the worker let the deadline of ${at} pass; timeout called (WorkerFault)`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function asPos(p: { tree: bigint | number; step: bigint | number; element: bigint | number; height: bigint | number; index: bigint | number }): GamePos {
  return { tree: Number(p.tree), step: Number(p.step), element: BigInt(p.element), height: Number(p.height), index: BigInt(p.index) };
}

abstract class Player {
  readonly game: FraudGame;
  readonly moves: MoveRecord[] = [];
  protected readonly opts: GameClientOptions;
  constructor(
    readonly role: "worker" | "challenger",
    gameAddress: string,
    readonly sender: Signer,
    opts: GameClientOptions = {},
  ) {
    this.game = FraudGame__factory.connect(gameAddress, sender);
    this.opts = opts;
  }

  /** `resolve`, unless another player's resolve got in first (the game resolved: nothing to do). */
  protected async resolveOnce(requestId: Hex): Promise<void> {
    try {
      await this.send("resolve", () => this.game.resolve(requestId));
    } catch (error) {
      if (!(await this.game.game(requestId)).resolved) throw error;
    }
  }

  protected async send(move: string, tx: () => Promise<ContractTransactionResponse>): Promise<MoveRecord> {
    const run = async () => {
      const sent = await tx();
      return { sent, mined: await sent.wait() };
    };
    const { sent: r, mined: rc } = await (this.opts.serialize ? this.opts.serialize(run) : run());
    if (rc === null || rc.status !== 1) throw new Error(`${this.role} ${move}: transaction failed`);
    const m: MoveRecord = { role: this.role, move, gas: rc.gasUsed, calldataBytes: (r.data.length - 2) / 2 };
    this.moves.push(m);
    this.opts.onMove?.(m);
    return m;
  }

  protected async pause(reason: WaitReason, polls: number): Promise<void> {
    if (this.opts.maxPolls !== undefined && polls >= this.opts.maxPolls) throw new Error(`${this.role}: gave up waiting (${reason}) after ${polls} polls`);
    if (this.opts.wait) await this.opts.wait(reason);
    else await sleep(this.opts.pollMs ?? 250);
  }

  protected async now(): Promise<bigint> {
    const b = await this.sender.provider!.getBlock("latest");
    return BigInt(b!.timestamp);
  }

  async ruling(requestId: Hex): Promise<number> {
    return Number((await this.game.game(requestId)).ruling);
  }
}

// ------------------------------------------------------------------ the worker

/**
 * The worker's responder. `sender` pays for the moves; `traceSigner` is the worker's registered result
 * signer (it signs the EIP-712 TraceCommitment; it may be the same account).
 */
/** What signs the TraceCommitment: an ethers Signer, or a raw digest signer (worker/signer.ts FastSigner). */
export type TraceSigner = Signer | { signDigest(digest: Uint8Array): Hex };

export class GameWorker extends Player {
  private readonly answered = new Set<string>();
  private cursor: number;

  constructor(gameAddress: string, sender: Signer, readonly traceSigner: TraceSigner, opts: GameClientOptions = {}) {
    super("worker", gameAddress, sender, opts);
    this.cursor = opts.fromBlock ?? 0;
  }

  /** Signs and posts the TraceCommitment (no-op when the game already holds one). */
  async commit(responder: DisputeResponder): Promise<MoveRecord | undefined> {
    const c = responder.commitment;
    if ((await this.game.game(c.requestId)).committed) return undefined;
    const chainId = (await this.sender.provider!.getNetwork()).chainId;
    const domain = fraudGameDomain(chainId, await this.game.getAddress());
    const statement = { requestId: c.requestId, attempt: c.attempt, traceRoot: c.traceRoot, finalHash: c.finalHash };
    const ts = this.traceSigner;
    const sig = "signDigest" in ts ? ts.signDigest(fromHex(traceCommitmentDigest(domain, statement))) : await signTraceCommitment(ts, domain, statement);
    return this.send("commitTrace", () => this.game.commitTrace(c.requestId, c.traceRoot, c.finalHash, c.finalPath, sig));
  }

  /** Answers every attacked node of the game not yet answered; returns how many it answered. */
  async answerPending(responder: DisputeResponder): Promise<number> {
    const requestId = responder.commitment.requestId;
    const logs = await this.game.queryFilter(this.game.filters.NodeAttacked(requestId), this.cursor);
    let count = 0;
    for (const log of logs) {
      const key = log.args.key;
      if (this.answered.has(key)) continue;
      const pos = asPos(log.args.pos);
      const state = Number((await this.game.node(requestId, pos)).state);
      if (state === NODE_STATE.Attacked) {
        await this.answer(responder, pos);
        count++;
      }
      this.answered.add(key);
    }
    if (logs.length > 0) this.cursor = logs[logs.length - 1]!.blockNumber;
    return count;
  }

  /** The worker's answer to one attacked node, from its trace. */
  async answer(responder: DisputeResponder, pos: GamePos): Promise<MoveRecord> {
    const { trace, commitment } = responder;
    const id = commitment.requestId;
    const j = pos.step;
    const idx = Number(pos.index);
    const children = (r: Parameters<DisputeResponder["answer"]>[0]) => {
      const a = responder.answer(r);
      if (a.kind !== "children") throw new Error(`expected children, got ${a.kind}`);
      return a;
    };
    switch (pos.tree) {
      case GAME_TREE.TRACE: {
        if (pos.height > 0) {
          const a = children({ kind: "manifestNode", depth: trace.manifest.depth - pos.height, index: idx });
          return this.send("answerNode(trace)", () => this.game.answerNode(id, pos, a.left, a.right));
        }
        const t = trace.tensorOpening(idx);
        return this.send("answerTensor", () => this.game.answerTensor(id, idx, t.header, t.dataRoot));
      }
      case GAME_TREE.DATA: {
        if (pos.height > 0) {
          const a = children({ kind: "chunkNode", step: j, depth: trace.trees[j]!.chunks.depth - pos.height, index: idx });
          return this.send("answerNode(data)", () => this.game.answerNode(id, pos, a.left, a.right));
        }
        return this.send("answerChunk", () => this.game.answerChunk(id, j, idx, trace.chunkBytes(j, idx)));
      }
      case GAME_TREE.PARTIAL: {
        const e = Number(pos.element);
        const a = children({ kind: "partialNode", step: j, element: e, depth: trace.partial(j, e).tree.depth - pos.height, index: idx });
        return this.send("answerNode(partial)", () => this.game.answerNode(id, pos, a.left, a.right));
      }
      case GAME_TREE.ELEMENT: {
        const e = Number(pos.element);
        const step = trace.program.steps[j]!;
        const c = Math.floor((e * DTYPES[step.output.dtype].size) / CHUNK_BYTES);
        const o = trace.partialOpening(j, e);
        return this.send("answerElement", () => this.game.answerElement(id, j, e, bytesToHex(encodeStep(step)), trace.chunkBytes(j, c), o.root, o.last, o.lastPath));
      }
      default:
        throw new Error(`unknown tree ${pos.tree}`);
    }
  }

  /**
   * The whole worker side: commit, then answer every attack until the game is resolved. Returns the ruling.
   * `signal` ends the watch early (the daemon shutting down): the ruling is then None.
   */
  async respond(responder: DisputeResponder, signal?: AbortSignal): Promise<number> {
    const id = responder.commitment.requestId;
    await this.commit(responder);
    for (let polls = 0; ; polls++) {
      if (await this.answerPending(responder)) polls = 0;
      const g = await this.game.game(id);
      if (g.resolved) return Number(g.ruling);
      if (signal?.aborted) return GAME_RULING.None;
      // A game every challenger stopped moving in has ended: the worker resolves it itself (its bond and the
      // request wait on the ruling; a challenger who never moves must not hold them).
      if (await this.ended(id)) {
        await this.resolveOnce(id);
        continue;
      }
      await this.pause("attack", polls);
    }
  }

  private async ended(requestId: Hex): Promise<boolean> {
    try {
      await this.game.resolve.staticCall(requestId);
      return true;
    } catch {
      return false;
    }
  }
}

// ------------------------------------------------------------------ the challenger

export interface PlayResult {
  ruling: number;
  /** How the game ended for the challenger. */
  outcome: "timeoutCommitment" | "timeout" | "leafProof" | "toleranceProof" | "resolved";
  descent?: DescentResult;
  /** The leaf proof's check in TypeScript (checkFinding), when a finding was made. */
  verdict?: { valid: boolean; fault: boolean; reason: string };
}

const tensorChunkProof = (o: { tensor: { header: Hex; dataRoot: Hex }; path: Hex[]; chunk: { bytes: Hex; path: Hex[] } }) => ({
  header: o.tensor.header,
  dataRoot: o.tensor.dataRoot,
  rootPath: o.path,
  chunk: o.chunk.bytes,
  chunkPath: o.chunk.path,
});
const operandProofs = (reads: OperandProof[]) => reads.map((r) => tensorChunkProof(r));

export class GameChallenger extends Player {
  constructor(gameAddress: string, sender: Signer, opts: GameClientOptions = {}) {
    super("challenger", gameAddress, sender, opts);
  }

  /** Waits for the worker's commitment; after its deadline calls `timeoutCommitment` and throws WorkerTimedOut. */
  async awaitCommitment(requestId: Hex): Promise<{ traceRoot: Hex; finalHash: Hex }> {
    const responseTime = await this.game.responseTime();
    for (let polls = 0; ; polls++) {
      const g = await this.game.game(requestId);
      if (g.committed) return { traceRoot: g.traceRoot as Hex, finalHash: g.finalHash as Hex };
      if (g.resolved) throw new WorkerTimedOut("commitment");
      if ((await this.now()) > g.openedAt + responseTime) {
        await this.send("timeoutCommitment", () => this.game.timeoutCommitment(requestId));
        throw new WorkerTimedOut("commitment");
      }
      await this.pause("commit", polls);
    }
  }

  /** Attacks `pos` (unless already attacked or answered) and waits for the worker's answer. */
  private async attackAndWait(requestId: Hex, pos: GamePos, attack: () => Promise<ContractTransactionResponse>, name: string): Promise<void> {
    let n = await this.game.node(requestId, pos);
    // A tree node is attackable once revealed; an element position has no reveal (state None until attacked).
    if (Number(n.state) === NODE_STATE.Revealed || (pos.tree === GAME_TREE.ELEMENT && Number(n.state) === NODE_STATE.None)) {
      await this.send(name, attack);
      n = await this.game.node(requestId, pos);
    }
    for (let polls = 0; ; polls++) {
      const state = Number(n.state);
      if (state === NODE_STATE.Answered) return;
      if (state !== NODE_STATE.Attacked) throw new Error(`${name}: node in state ${state}`);
      if ((await this.now()) > n.clock) {
        await this.send("timeout", () => this.game.timeout(requestId, pos));
        throw new WorkerTimedOut(pos);
      }
      await this.pause("answer", polls);
      n = await this.game.node(requestId, pos);
    }
  }

  private async children(requestId: Hex, pos: GamePos): Promise<[Hex, Hex]> {
    await this.attackAndWait(requestId, pos, () => this.game.attack(requestId, pos), `attack(${["trace", "data", "partial"][pos.tree]}@${pos.height})`);
    const key = await this.game.nodeKey(pos);
    const [ev] = await this.game.queryFilter(this.game.filters.NodeAnswered(requestId, key), this.opts.fromBlock ?? 0);
    if (!ev) throw new Error("answered node without a NodeAnswered event");
    return [ev.args.left as Hex, ev.args.right as Hex];
  }

  /**
   * descent.ts's WorkerClaims over the game: each call is one attack; it resolves with the worker's reveal
   * read from the chain, or rejects with WorkerTimedOut (after calling `timeout`) when the worker is silent.
   * `mine` gives the trees' shapes (the game's heights): the descent only opens a node whose type it checked.
   */
  claims(requestId: Hex, mine: CanonicalTrace, committed: { traceRoot: Hex; finalHash: Hex }): WorkerClaims {
    const program = mine.program;
    const programTree = FlatTree.fromLeaves(program.steps.map(stepLeaf));
    const P = (tree: number, step: number, element: number, height: number, index: number): GamePos => ({ tree, step, element: BigInt(element), height, index: BigInt(index) });
    return {
      traceRoot: committed.traceRoot,
      finalHash: committed.finalHash,
      manifestChildren: (d, i) => this.children(requestId, P(GAME_TREE.TRACE, 0, 0, mine.manifest.depth - d, i)),
      tensorOpening: async (j) => {
        const pos = P(GAME_TREE.TRACE, 0, 0, 0, j);
        await this.attackAndWait(requestId, pos, () => this.game.attack(requestId, pos), "attack(tensor)");
        const [ev] = await this.game.queryFilter(this.game.filters.TensorRevealed(requestId, j), this.opts.fromBlock ?? 0);
        if (!ev) throw new Error(`tensor ${j} answered without TensorRevealed`);
        return { header: ev.args.header as Hex, dataRoot: ev.args.dataRoot as Hex };
      },
      chunkChildren: (j, d, i) => this.children(requestId, P(GAME_TREE.DATA, j, 0, mine.trees[j]!.chunks.depth - d, i)),
      chunkBytes: async (j, c) => {
        const pos = P(GAME_TREE.DATA, j, 0, 0, c);
        await this.attackAndWait(requestId, pos, () => this.game.attack(requestId, pos), "attack(chunk)");
        const ev = (await this.game.queryFilter(this.game.filters.ChunkRevealed(requestId, j), this.opts.fromBlock ?? 0)).find((e) => Number(e.args.chunkIndex) === c);
        if (!ev) throw new Error(`chunk ${c} of tensor ${j} answered without ChunkRevealed`);
        return ev.args.chunk as Hex;
      },
      partialOpening: async (j, e) => {
        const pos = P(GAME_TREE.ELEMENT, j, e, 0, 0);
        const enc = bytesToHex(encodeStep(program.steps[j]!));
        const path = programTree.path(j).map(bytesToHex);
        await this.attackAndWait(requestId, pos, () => this.game.attackElement(requestId, j, e, enc, path), "attackElement");
        const ev = (await this.game.queryFilter(this.game.filters.PartialRevealed(requestId, j), this.opts.fromBlock ?? 0)).find((x) => Number(x.args.element) === e);
        if (!ev) throw new Error(`element (${j}, ${e}) answered without PartialRevealed`);
        // The event carries root, K and the last record; the last record's path is in the answer's calldata.
        const tx = await this.sender.provider!.getTransaction(ev.transactionHash);
        const parsed = this.game.interface.parseTransaction({ data: tx!.data });
        const lastPath = (parsed?.name === "answerElement" ? [...(parsed.args[7] as string[])] : []) as Hex[];
        return { root: ev.args.partialRoot as Hex, terms: Number(ev.args.terms), last: ev.args.lastRecord as Hex, lastPath };
      },
      partialChildren: (j, e, d, i) => this.children(requestId, P(GAME_TREE.PARTIAL, j, e, mine.partial(j, e).tree.depth - d, i)),
    };
  }

  /** Submits the leaf proof of a finding the TypeScript check found a fault with; false when it has no on-chain proof. */
  async prove(requestId: Hex, f: Finding): Promise<boolean> {
    switch (f.kind) {
      case "element":
        await this.send(
          "proveStep",
          () => this.game.proveStep(requestId, f.claim.step, f.claim.element, f.stepProof.encoding, f.stepProof.path, tensorChunkProof({ tensor: f.claim.tensor, path: f.claim.manifestPath, chunk: f.claim.chunk }), operandProofs(f.reads)),
        );
        return true;
      case "header":
        await this.send("proveHeader", () => this.game.proveHeader(requestId, f.step, f.tensor.header, f.tensor.dataRoot, f.manifestPath, f.stepProof.encoding, f.stepProof.path));
        return true;
      case "partial":
        // Leaf t by its hash (the game reveals interior leaves as hashes only); leaf t−1 by the challenger's own
        // record, which the worker's leaf t−1 agrees with.
        await this.send(
          "proveFold",
          () => this.game.proveFold(requestId, f.claim.step, f.claim.element, f.stepProof.encoding, f.t, f.prev?.record ?? bytesToHex(Buffer.alloc(32)), f.prev?.path ?? [], f.leaf.hash, f.leaf.path, operandProofs(f.reads)),
        );
        return true;
      default:
        return false;
    }
  }

  /** Waits until the game has ended (no pending answer, every moveClock out) and calls `resolve`. */
  async resolveWhenEnded(requestId: Hex): Promise<number> {
    for (let polls = 0; ; polls++) {
      const g = await this.game.game(requestId);
      if (g.resolved) return Number(g.ruling);
      try {
        await this.game.resolve.staticCall(requestId);
      } catch {
        await this.pause("clock", polls);
        continue;
      }
      await this.resolveOnce(requestId);
    }
  }

  /**
   * The challenger's whole play on a game it joined: await the commitment, descend against the worker's
   * claims with its own canonical trace `mine`, submit the leaf proof (when checkFinding finds a fault) or,
   * when the worker's trace is the canonical one, the tolerance proof of the signed output, then resolve.
   */
  async play(requestId: Hex, mine: CanonicalTrace, signedOutput: Tensor): Promise<PlayResult> {
    let committed;
    try {
      committed = await this.awaitCommitment(requestId);
    } catch (e) {
      if (e instanceof WorkerTimedOut) return { ruling: await this.ruling(requestId), outcome: "timeoutCommitment" };
      throw e;
    }
    let descent: DescentResult;
    try {
      descent = await descend(mine, this.claims(requestId, mine, committed));
    } catch (e) {
      if (e instanceof WorkerTimedOut) return { ruling: await this.ruling(requestId), outcome: "timeout" };
      throw e;
    }
    const f = descent.finding;
    if (f.kind === "element" || f.kind === "partial" || f.kind === "header") {
      const terms = await this.termsOf(requestId);
      const verdict = checkFinding(f, mine.program, { programRoot: terms.programRoot as Hex, weightsRoot: terms.weightsRoot as Hex, inputHash: terms.inputHash, precision: mine.precision, traceRoot: committed.traceRoot });
      if (verdict.valid && verdict.fault && (await this.prove(requestId, f))) return { ruling: await this.ruling(requestId), outcome: "leafProof", descent, verdict };
      return { ruling: await this.resolveWhenEnded(requestId), outcome: "resolved", descent, verdict };
    }
    if (f.kind === "agree") {
      const terms = await this.termsOf(requestId);
      const final = mine.tensors[mine.tensors.length - 1]!;
      const tol = toleranceCheck(signedOutput, final, tauFromBits(terms.tauOutAbs, terms.tauOutRel));
      if (!tol.ok) {
        const index = tol.first?.index ?? 0;
        const p = buildToleranceProof(signedOutput, mine, index);
        const last = mine.program.steps.length - 1;
        const programPath = FlatTree.fromLeaves(mine.program.steps.map(stepLeaf)).path(last).map(bytesToHex);
        const open = (o: typeof p.signed) => ({ header: o.tensor.header, dataRoot: o.tensor.dataRoot, rootPath: [], chunk: o.chunk.bytes, chunkPath: o.chunk.path });
        await this.send("proveOutput", () => this.game.proveOutput(requestId, index, open(p.signed), open(p.final), bytesToHex(encodeStep(mine.program.steps[last]!)), programPath));
        return { ruling: await this.resolveWhenEnded(requestId), outcome: "toleranceProof", descent };
      }
    }
    return { ruling: await this.resolveWhenEnded(requestId), outcome: "resolved", descent };
  }

  private async termsOf(requestId: Hex) {
    const g = await this.game.game(requestId);
    const registry = (await import("../types/ethers-contracts/index.js")).ModelRegistry__factory.connect(await this.game.registry(), this.sender);
    const t = await registry.canonicalTerms(g.modelHash);
    return { programRoot: t.programRoot, weightsRoot: t.weightsRoot, tauOutAbs: t.tauOutAbs, tauOutRel: t.tauOutRel, inputHash: g.inputHash as Hex };
  }
}
