/** The challenger's side of a FraudGame (protocol/fraud-game-client.ts): attacks, the descent, the leaf or tolerance proof. */
import type { ContractTransactionResponse, Signer } from "ethers";
import {
  type DescentResult,
  type Finding,
  type OperandProof,
  type WorkerClaims,
  buildToleranceProof,
  checkFinding,
  descend,
  tauFromBits,
  toleranceCheck,
  stepLeaf,
  encodeStep,
  type CanonicalTrace,
  FlatTree,
} from "../canonical/index.js";
import { bytesToHex } from "./merkle.js";
import { hashTensor, type Tensor } from "./tensor.js";
import type { Hex } from "./types.js";
import { GAME_TREE, type GamePos } from "./fraud-game.js";
import { NODE_STATE, Player, WorkerTimedOut, type GameClientOptions } from "./fraud-game-player.js";

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
  async play(requestId: Hex, mine: CanonicalTrace, signedOutput: Tensor | readonly Tensor[]): Promise<PlayResult> {
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
      // A model with several inputs: a read of input i is proven against entry i of the opened input bundle.
      const bundled = mine.inputs.length > 1 && f.kind !== "header" && f.reads.some((r) => r.source === "input");
      const inputMembers = bundled ? mine.inputs.map((t) => hashTensor(t)) : undefined;
      const verdict = checkFinding(f, mine.program, { programRoot: terms.programRoot as Hex, weightsRoot: terms.weightsRoot as Hex, inputHash: terms.inputHash, ...(inputMembers ? { inputMembers } : {}), precision: mine.precision, traceRoot: committed.traceRoot });
      if (verdict.valid && verdict.fault) {
        if (inputMembers) await this.send("openBundle(inputs)", () => this.game.openBundle(requestId, false, inputMembers));
        if (await this.prove(requestId, f)) return { ruling: await this.ruling(requestId), outcome: "leafProof", descent, verdict };
      }
      return { ruling: await this.resolveWhenEnded(requestId), outcome: "resolved", descent, verdict };
    }
    if (f.kind === "agree" && (await this.proveOutputs(requestId, mine, signedOutput))) return { ruling: await this.resolveWhenEnded(requestId), outcome: "toleranceProof", descent };
    return { ruling: await this.resolveWhenEnded(requestId), outcome: "resolved", descent };
  }

  /**
   * The worker's trace is the canonical one: the tolerance proof of the first signed output element beyond τ_out,
   * if any. A model with several outputs (signed: one tensor per output, canonical name order): the output
   * bundle is opened first and output k is proven against step stepCount − n + k.
   */
  private async proveOutputs(requestId: Hex, mine: CanonicalTrace, signedOutput: Tensor | readonly Tensor[]): Promise<boolean> {
    const terms = await this.termsOf(requestId);
    const signed = Array.isArray(signedOutput) ? (signedOutput as readonly Tensor[]) : [signedOutput as Tensor];
    const n = signed.length;
    if (n !== mine.program.outputs.length) throw new Error(`${n} signed outputs for a model with ${mine.program.outputs.length}`);
    const steps = mine.program.steps.length;
    for (let k = 0; k < n; k++) {
      const step = steps - n + k;
      const tol = toleranceCheck(signed[k]!, mine.tensor(step), tauFromBits(terms.tauOutAbs, terms.tauOutRel));
      if (tol.ok) continue;
      const index = tol.first?.index ?? 0;
      const p = buildToleranceProof(signed[k]!, mine, index, step);
      const programPath = FlatTree.fromLeaves(mine.program.steps.map(stepLeaf)).path(step).map(bytesToHex);
      const open = (o: typeof p.signed, rootPath: Hex[]) => ({ header: o.tensor.header, dataRoot: o.tensor.dataRoot, rootPath, chunk: o.chunk.bytes, chunkPath: o.chunk.path });
      const finalPath = n > 1 ? mine.manifestPath(step) : [];
      if (n > 1) await this.send("openBundle(outputs)", () => this.game.openBundle(requestId, true, signed.map((t) => hashTensor(t))));
      await this.send("proveOutput", () => this.game.proveOutput(requestId, index, open(p.signed, []), open(p.final, finalPath), bytesToHex(encodeStep(mine.program.steps[step]!)), programPath));
      return true;
    }
    return false;
  }

  private async termsOf(requestId: Hex) {
    const g = await this.game.game(requestId);
    const registry = (await import("../types/ethers-contracts/index.js")).ModelRegistry__factory.connect(await this.game.registry(), this.sender);
    const t = await registry.canonicalTerms(g.modelHash);
    return { programRoot: t.programRoot, weightsRoot: t.weightsRoot, tauOutAbs: t.tauOutAbs, tauOutRel: t.tauOutRel, inputHash: g.inputHash as Hex };
  }
}
