/**
 * Answers FraudGame disputes on this worker's OPTIMISTIC results (docs/V2.md §5): the worker's
 * responder on-chain.
 *
 * It watches the game's GameOpened events; for a game whose signer is this worker's result signer and a
 * model it holds the canonical program of, it reads the request's input (the worker's input cache through
 * `inputOf`, which refetches a missing one by hash or URI; else inline in the InferenceRequested event),
 * rebuilds the canonical trace (worker/dispute.ts
 * `prepareDispute`, which refuses an input that does not hash to the request's inputHash), signs and posts
 * the TraceCommitment and answers every attack until the game is resolved
 * (protocol/fraud-game-client.ts `GameWorker.respond`). One game per request, each in the background;
 * `close()` stops the watch and every responder.
 */
import { BlockPoller } from "./block-poller.js";
import { readFile } from "node:fs/promises";
import type { Provider, Signer } from "ethers";
import type { Logger } from "pino";
import { PRECISIONS, type Precision, lowerModel, type Program } from "../canonical/index.js";
import { GAME_RULING, GameWorker, type GameClientOptions, type TraceSigner } from "../protocol/fraud-game-client.js";
import { OracleError, createLogger, type Hex, type Tensor } from "../protocol/index.js";
import type { ModelCatalog } from "./catalog.js";
import { FraudGame__factory, InferenceOracle__factory, ModelRegistry__factory, type FraudGame, type InferenceOracle } from "../types/ethers-contracts/index.js";
import { prepareDispute, programInputsOf, requestInputOf, type DisputeResponder, type RequestInput } from "./dispute.js";
import type { InputCache } from "./input-cache.js";

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
  /**
   * The request's input from the worker's cache (worker/input-cache.ts; refetched by hash or URI when missing),
   * given what its InferenceRequested event names; undefined falls back to the event's inline input.
   */
  inputOf?: (requestId: Hex, request: { inputHash: Hex; inputURI: string }) => Promise<RequestInput | undefined>;
  /** The worker's input cache: inputs of settled requests (Fulfilled, Refunded) are dropped as the answerer polls. */
  inputs?: InputCache;
  /** How often the input cache is pruned of settled requests (default 60 s; at most 64 requests asked each time). */
  pruneEveryMs?: number;
  startBlock?: number;
  pollIntervalMs?: number;
  /**
   * FAULT INJECTION, tests and demos only (scripts/fault-injection.ts): the responder to answer with instead of the
   * honest canonical trace. Nothing in a worker's config sets it.
   */
  responderOf?: (d: { program: Program; input: Tensor; inputs: Tensor[]; precision: Precision; requestId: Hex; attempt: number }) => DisputeResponder | undefined;
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
  private prunedAt = 0;
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
    await this.scanGames();
    await this.pruneInputs();
  }

  private async scanGames(): Promise<void> {
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

  private async pruneInputs(): Promise<void> {
    if (this.o.inputs !== undefined && Date.now() - this.prunedAt >= (this.o.pruneEveryMs ?? 60_000)) {
      this.prunedAt = Date.now();
      // Requested (a result not yet in, or reopened), Submitted and Challenged can still be disputed.
      await this.o.inputs
        .prune(async (id) => {
          if (this.games.has(id) && this.outcomes.get(id) === "responding") return true;
          const s = Number(await this.oracle.state(id));
          return s >= 1 && s <= 3;
        })
        .catch((error: unknown) => this.log.warn({ err: error }, "pruning the input cache failed"));
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
    const input = await this.requestInput(requestId);
    if (input === undefined) return "no-input";
    const inputs = programInputsOf(program, input);
    const responder =
      this.o.responderOf?.({ program, input: inputs[0]!, inputs, precision, requestId, attempt: Number(g.attempt) }) ??
      prepareDispute({ program, input, precision, requestId, attempt: Number(g.attempt), inputHash: g.inputHash as Hex });
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
        })
        .finally(() => responder.trace.close()), // the game ended: the trace's spill file goes
    );
    return "responding";
  }

  /** The request's input: the worker's cache (`inputOf`), else inline in its InferenceRequested event. */
  private async requestInput(requestId: Hex): Promise<RequestInput | undefined> {
    const [ev] = await this.oracle.queryFilter(this.oracle.filters.InferenceRequested(requestId));
    if (ev === undefined) throw new OracleError("REQUEST_NOT_FOUND", `no InferenceRequested event for ${requestId}`, { retryable: true });
    const cached = await this.o.inputOf?.(requestId, { inputHash: String(ev.args.inputHash) as Hex, inputURI: String(ev.args.inputURI) });
    if (cached !== undefined) return cached;
    const inline = String(ev.args.input);
    return inline === "0x" ? undefined : requestInputOf(Buffer.from(inline.slice(2), "hex"));
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

/**
 * programOf over every model the worker serves: lowered once per model from the worker's verified model file
 * (`pathOf`), at the input shape registered for it (`catalog`). A model whose registered input shape is not
 * static has no canonical program (OPTIMISTIC is refused for it at registration) and is not answered.
 */
export function catalogPrograms(catalog: ModelCatalog, pathOf: (modelHash: Hex, uris: string[]) => Promise<string>): (modelHash: Hex) => Promise<Program | undefined> {
  const lowered = new Map<string, Promise<Program | undefined>>();
  return async (modelHash) => {
    const key = modelHash.toLowerCase();
    let p = lowered.get(key);
    if (p === undefined) {
      p = (async () => {
        const entry = await catalog.getModel(modelHash);
        if (entry.input.shape.some((d) => d <= 0)) return undefined;
        return lowerModel(await readFile(await pathOf(modelHash, entry.uris)), { inputShape: entry.input.shape });
      })();
      // A failure (the node or the model's host unreachable) is tried again at the next game.
      p.catch(() => lowered.delete(key));
      lowered.set(key, p);
    }
    return p;
  };
}

/** What a Worker (worker/worker.ts) lends its answerer: its signer, catalog, model files and input cache. */
export interface AnsweringWorker {
  readonly address: string;
  readonly digestSigner: TraceSigner;
  readonly catalog: ModelCatalog;
  readonly models: { path(modelHash: Hex, uris: string[]): Promise<string> };
  readonly inputs: InputCache;
  disputeInput(requestId: string, inputHash: string, inputURI: string): Promise<Buffer | undefined>;
}

/**
 * The FraudGameAnswerer of one worker: it answers the games opened on that worker's results, from the
 * canonical program of the disputed model and the input the worker cached (or refetches).
 */
export function workerGameAnswerer(
  worker: AnsweringWorker,
  o: Omit<FraudGameAnswererOptions, "traceSigner" | "signerAddress" | "programOf" | "inputOf" | "inputs"> & Partial<Pick<FraudGameAnswererOptions, "programOf">>,
): FraudGameAnswerer {
  return new FraudGameAnswerer({
    ...o,
    traceSigner: worker.digestSigner,
    signerAddress: worker.address,
    programOf: o.programOf ?? catalogPrograms(worker.catalog, (h, uris) => worker.models.path(h, uris)),
    inputOf: async (requestId, r) => {
      const bytes = await worker.disputeInput(requestId, r.inputHash, r.inputURI);
      return bytes === undefined ? undefined : requestInputOf(bytes);
    },
    inputs: worker.inputs,
  });
}

/**
 * The FraudGames a worker must answer on: every resolver the registry has approved (its ResolverApprovalChanged
 * events from `fromBlock`, still approved now) that is a FraudGame of `oracle` (its `oracle()` names it).
 */
export async function findFraudGames(provider: Provider, registryAddress: string, oracle: string, fromBlock = 0): Promise<string[]> {
  const registry = ModelRegistry__factory.connect(registryAddress, provider);
  const seen = new Set<string>();
  for (const ev of await registry.queryFilter(registry.filters.ResolverApprovalChanged(), fromBlock)) seen.add(String(ev.args.resolver));
  const games: string[] = [];
  for (const resolver of seen) {
    if (!(await registry.isApprovedResolver(resolver))) continue;
    const game = FraudGame__factory.connect(resolver, provider);
    const isGame = await Promise.all([game.oracle(), game.responseTime()])
      .then(([o]) => o.toLowerCase() === oracle.toLowerCase())
      .catch(() => false);
    if (isGame) games.push(resolver);
  }
  return games;
}
