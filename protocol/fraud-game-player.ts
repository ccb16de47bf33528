/** What both FraudGame players share (protocol/fraud-game-client.ts): the contract, sending a move, waiting, the ruling. */
import type { ContractTransactionResponse, Signer } from "ethers";
import { OracleError } from "./errors.js";
import type { Hex } from "./types.js";
import type { GamePos } from "./fraud-game.js";
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

export function asPos(p: { tree: bigint | number; step: bigint | number; element: bigint | number; height: bigint | number; index: bigint | number }): GamePos {
  return { tree: Number(p.tree), step: Number(p.step), element: BigInt(p.element), height: Number(p.height), index: BigInt(p.index) };
}

export abstract class Player {
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
