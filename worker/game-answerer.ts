/**
 * Answers FraudGame disputes on this worker's OPTIMISTIC results (docs/V2.md §5, issue 11): the worker's
 * responder on-chain.
 *
 * It watches the game's GameOpened events; for a game whose signer is this worker's result signer and a
 * model it holds the canonical program of, it reads the request's input (inline in the InferenceRequested
 * event, or the worker's cache through `inputOf`), rebuilds the canonical trace (worker/dispute.ts
 * `prepareDispute`, which refuses an input that does not hash to the request's inputHash), signs and posts
 * the TraceCommitment and answers every attack until the game is resolved
 * (protocol/fraud-game-client.ts `GameWorker.respond`). One game per request, each in the background;
 * `close()` stops the watch and every responder.
 */
import { BlockPoller } from "./block-poller.js";
import { readFile } from "node:fs/promises";
import type { Provider, Signer } from "ethers";
import type { Logger } from "pino";
import { PRECISIONS, type Precision } from "../canonical/float.js";
import { lowerModel } from "../canonical/lower.js";
import type { Program } from "../canonical/program.js";
import { GAME_RULING, GameWorker, type GameClientOptions, type TraceSigner } from "../protocol/fraud-game-client.js";
import { BaseError } from "../protocol/errors.js";
import { createLogger } from "../protocol/logger.js";
import { decodeTensor, type Tensor } from "../protocol/tensor.js";
import type { Hex } from "../protocol/types.js";
import { FraudGame__factory, InferenceOracle__factory, ModelRegistry__factory, type FraudGame, type InferenceOracle } from "../types/ethers-contracts/index.js";
import { prepareDispute } from "./dispute.js";

export interface FraudGameAnswererOptions {
  provider: Provider;
  /** Pays for the worker's moves (one sender: its nonces are this answerer's alone). */
  sender: Signer;
  /** The worker's registered result signer (signs the TraceCommitment); its address picks the games to answer. */
  traceSigner: TraceSigner;
  signerAddress: string;
  oracle: string;
  game: string;
  /** The canonical program of a model (lowered at its committed input shape), or undefined: not answered. The
   * precision is the model's registered CanonicalTerms'. */
  programOf: (modelHash: Hex) => Promise<Program | undefined>;
  /** The request's input from the worker's cache; default: inline in the InferenceRequested event. */
  inputOf?: (requestId: Hex) => Promise<Tensor | undefined>;
  startBlock?: number;
  pollIntervalMs?: number;
  /** Passed to each GameWorker (its wait between polls). */
  client?: GameClientOptions;
  logger?: Logger;
}

export type GameAnswerOutcome = "responding" | "not-ours" | "no-program" | "no-input" | "failed" | keyof typeof GAME_RULING;

export class FraudGameAnswerer extends BlockPoller {
  private readonly oracle: InferenceOracle;
  private readonly game: FraudGame;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly games = new Map<string, Promise<void>>();
  /** Outcome per request id (lower case): "responding" while the game runs, then the ruling's name. */
  readonly outcomes = new Map<string, GameAnswerOutcome>();

  constructor(private readonly o: FraudGameAnswererOptions) {
    super(o);
    this.oracle = InferenceOracle__factory.connect(o.oracle, o.provider);
    this.game = FraudGame__factory.connect(o.game, o.provider);
    this.log = (o.logger ?? createLogger("worker")).child({ layer: "game-answerer" });
  }

  /** Resolves when every game started so far has ended (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.games.values()]);
  }

  /** Stops the watch and every responder; safe to call twice. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.stopPolling();
    await this.settled();
  }

  protected async scan(): Promise<void> {
    try {
      const latest = await this.o.provider.getBlockNumber();
      if (latest < this.next) return;
      const events = await this.game.queryFilter(this.game.filters.GameOpened(), this.next, latest);
      for (const ev of events) {
        const requestId = String(ev.args.requestId) as Hex;
        const key = requestId.toLowerCase();
        if (this.games.has(key)) continue;
        const outcome = await this.begin(requestId, ev.blockNumber).catch((error: unknown) => {
          this.log.warn({ err: error, requestId }, "could not answer the game");
          return "failed" as const;
        });
        this.outcomes.set(key, outcome);
      }
      this.next = latest + 1;
    } catch (error) {
      this.log.warn({ err: error }, "scanning for games failed; retrying");
    }
  }

  private async begin(requestId: Hex, openedBlock: number): Promise<GameAnswerOutcome> {
    const g = await this.game.game(requestId);
    if (g.signer.toLowerCase() !== this.o.signerAddress.toLowerCase()) return "not-ours";
    const program = await this.o.programOf(g.modelHash as Hex);
    if (program === undefined) return "no-program";
    const registry = ModelRegistry__factory.connect(await this.game.registry(), this.o.provider);
    const code = Number((await registry.canonicalTerms(g.modelHash)).precision);
    const precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === code);
    if (precision === undefined) return "no-program";
    const input = (await this.o.inputOf?.(requestId)) ?? (await this.inlineInput(requestId));
    if (input === undefined) return "no-input";
    const responder = prepareDispute({ program, input, precision, requestId, attempt: Number(g.attempt), inputHash: g.inputHash as Hex });
    const worker = new GameWorker(this.o.game, this.o.sender, this.o.traceSigner, {
      ...this.o.client,
      fromBlock: openedBlock,
      onMove: (m) => {
        this.o.client?.onMove?.(m);
        this.log.info({ requestId, move: m.move, gas: m.gas.toString(), calldataBytes: m.calldataBytes }, "game move");
      },
    });
    const key = requestId.toLowerCase();
    this.games.set(
      key,
      worker
        .respond(responder, this.abort.signal)
        .then((ruling) => {
          const name = (Object.keys(GAME_RULING) as (keyof typeof GAME_RULING)[]).find((k) => GAME_RULING[k] === ruling)!;
          this.outcomes.set(key, name);
          this.log.info({ requestId, ruling: name, moves: worker.moves.length }, "game ended");
        })
        .catch((error: unknown) => {
          this.outcomes.set(key, "failed");
          this.log.error({ err: error, requestId }, "the game responder failed");
        }),
    );
    return "responding";
  }

  /** The request's input inline in its InferenceRequested event (undefined when it was sent by URI). */
  private async inlineInput(requestId: Hex): Promise<Tensor | undefined> {
    const [ev] = await this.oracle.queryFilter(this.oracle.filters.InferenceRequested(requestId));
    if (ev === undefined) throw new BaseError("REQUEST_NOT_FOUND", `no InferenceRequested event for ${requestId}`, { retryable: true });
    const inline = String(ev.args.input);
    return inline === "0x" ? undefined : decodeTensor(Buffer.from(inline.slice(2), "hex"));
  }
}

/**
 * programOf over the worker's pinned models: each is lowered once, at its pinned input shape, from the file
 * `pathOf` returns (the worker's verified model cache).
 */
export function pinnedPrograms(models: readonly { modelHash: string; input: { shape: number[] } }[], pathOf: (modelHash: Hex) => Promise<string>): (modelHash: Hex) => Promise<Program | undefined> {
  const lowered = new Map<string, Promise<Program>>();
  return async (modelHash) => {
    const m = models.find((x) => x.modelHash.toLowerCase() === modelHash.toLowerCase());
    if (m === undefined) return undefined;
    const key = modelHash.toLowerCase();
    let p = lowered.get(key);
    if (p === undefined) {
      p = pathOf(modelHash).then(async (path) => lowerModel(await readFile(path), { inputShape: m.input.shape }));
      lowered.set(key, p);
    }
    return p;
  };
}
