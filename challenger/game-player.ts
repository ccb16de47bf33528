/**
 * The challenger's play on a FraudGame (docs/V2.md §5): when the canonical audit
 * (challenger/canonical-audit.ts) says "dispute" for a result whose model's resolver is one of the
 * FraudGame deployments this challenger plays (`games`: the config switch; an empty list plays none), it
 * opens the dispute through the oracle (or joins the one already open: `challenge` does either, with the
 * same bond) and plays the whole descent with its canonical trace (protocol/fraud-game-client.ts
 * `GameChallenger.play`): leaf proof, tolerance proof, timeout or resolve.
 */
import type { Signer } from "ethers";
import type { Tensor, Hex } from "../protocol/index.js";
import { GameChallenger, type GameClientOptions, type PlayResult } from "../protocol/fraud-game-client.js";
import { InferenceOracle__factory, ModelRegistry__factory, type IInferenceOracle } from "../types/ethers-contracts/index.js";
import type { AuditVerdict } from "./canonical-audit.js";

export interface GameDisputeOptions {
  /** Pays the bond and every move (one sender: its nonces are this player's alone). */
  sender: Signer;
  oracle: string;
  /** The FraudGame deployments this challenger plays. */
  games: readonly string[];
  /** The model of the result and its on-chain result record (from its ResultBatchSubmitted record). */
  modelHash: Hex;
  record: IInferenceOracle.ResultRecordStruct;
  /** The worker's signed output (a model with several outputs: one tensor per output, canonical name order). */
  output: Tensor | readonly Tensor[];
  client?: GameClientOptions;
}

export type GameDisputeOutcome =
  | { kind: "skipped"; reason: string }
  | { kind: "played"; game: string; result: PlayResult; moves: GameChallenger["moves"] };

/** Disputes one audited result through its model's FraudGame and plays it to the ruling. */
export async function playGameDispute(verdict: AuditVerdict, o: GameDisputeOptions): Promise<GameDisputeOutcome> {
  if (verdict.status !== "dispute") return { kind: "skipped", reason: `audit verdict ${verdict.status}` };
  // The trace's spill file is removed once the game is played (or never is).
  return playTrace(verdict, o).finally(() => verdict.trace.close());
}

async function playTrace(verdict: Extract<AuditVerdict, { status: "dispute" }>, o: GameDisputeOptions): Promise<GameDisputeOutcome> {
  const oracle = InferenceOracle__factory.connect(o.oracle, o.sender);
  const registry = ModelRegistry__factory.connect(await oracle.registry(), o.sender);
  const resolver = (await registry.model(o.modelHash)).resolver;
  if (!o.games.some((g) => g.toLowerCase() === resolver.toLowerCase())) return { kind: "skipped", reason: `the model's resolver ${resolver} is not a FraudGame this challenger plays` };
  const requestId = verdict.requestId;
  let fromBlock = o.client?.fromBlock;
  if (!(await oracle.isChallenger(requestId, await o.sender.getAddress()))) {
    const params = await oracle.paramsAt((await oracle.getRequest(requestId)).paramsVersion);
    const rc = await (await oracle.challenge(requestId, o.record, [], { value: params.challengeBond })).wait();
    // The game opened in this block, or earlier when this challenge joined someone else's dispute.
    if (fromBlock === undefined && rc !== null && rc.logs.some((l) => l.address.toLowerCase() === resolver.toLowerCase())) fromBlock = rc.blockNumber;
  }
  const player = new GameChallenger(resolver, o.sender, { ...o.client, ...(fromBlock === undefined ? {} : { fromBlock }) });
  const result = await player.play(requestId, verdict.trace, o.output);
  return { kind: "played", game: resolver, result, moves: player.moves };
}
