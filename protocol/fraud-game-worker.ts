/** The worker's side of a FraudGame (protocol/fraud-game-client.ts): commits its trace and answers every attack. */
import type { Signer } from "ethers";
import { encodeStep } from "../canonical/index.js";
import { CHUNK_BYTES, fromHex, bytesToHex } from "./merkle.js";
import { DTYPES } from "./tensor.js";
import type { Hex } from "./types.js";
import { fraudGameDomain, GAME_TREE, signTraceCommitment, traceCommitmentDigest, type GamePos } from "./fraud-game.js";
import type { DisputeResponder } from "../worker/index.js";
import { asPos, GAME_RULING, NODE_STATE, Player, type GameClientOptions, type MoveRecord } from "./fraud-game-player.js";

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
