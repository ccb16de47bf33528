/**
 * Shared by the FraudGame end-to-end suites (game-e2e*.test.ts): the PP-OCR cls world and its honest
 * canonical trace (built once per file), the stack with the model's canonical terms on the game (deployed
 * once per file and restored from a snapshot for each test), a disputed request, and the worker's and the
 * challenger's clients talking only through the chain.
 */
import { network } from "hardhat";
import { expect } from "vitest";
import { CanonicalTrace } from "../../canonical/index.js";
import { ChallengerDaemon } from "../../challenger/index.js";
import { GAME_RULING, GameChallenger, GameWorker, type MoveRecord } from "../../protocol/fraud-game-client.js";
import { hashTensor, type Tensor, type Hex } from "../../protocol/index.js";
import type { FraudGameAnswerer } from "../../worker/index.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Fx } from "../contracts/helpers.js";
import { clsWorld, MAX_ATTACKS, MOVE_CLOCK, RESPONSE_TIME, withElement, type ClsWorld, type Connection } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let honest: CanonicalTrace;

/** The file's chain and cls world (call once, in beforeAll). */
export async function gameE2eWorld(): Promise<{ conn: Connection; world: ClsWorld; honest: CanonicalTrace }> {
  conn = await network.create();
  world = clsWorld();
  honest = new CanonicalTrace(world.program, world.input, world.honest.tensors, "fp32");
  return { conn, world, honest };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function gameStack(c: Connection) {
  const fx: Fx = await deploy(c, { game: { responseTime: RESPONSE_TIME, moveClock: MOVE_CLOCK, maxAttacks: MAX_ATTACKS } });
  // The deployment procedure `oracle deploy` runs (protocol/deployment.ts): the FraudGame approved in the registry.
  const game = fx.game;
  const gameAddr: string = await game.getAddress();
  await fx.registry.connect(fx.modelOwner).registerModel(world.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 }));
  await fx.registry.connect(fx.modelOwner).setCanonicalTerms(world.modelHash, world.terms);
  return { fx, gameAddr };
}

/** The stack with the cls model on the game: deployed once per file, then each test starts from its snapshot (loadFixture). */
export function setup() {
  return conn.networkHelpers.loadFixture(gameStack);
}

/** A request answered by worker 0 with `signed`, challenged by fx.challenger (which opens the game). */
export async function disputed(fx: Fx, signed: Tensor) {
  const { id, rec, receipt } = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(signed) });
  const submitTx = await fx.ethers.provider.getTransaction(receipt.hash);
  const challengeRc = await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
  return { id: id as Hex, rec, submitBytes: (submitTx!.data.length - 2) / 2, challengeRc };
}

/** Clients with one sender per role: the worker's operator answers (its registered signer signs), fx.challenger attacks (on `o.conn`'s chain, default the file's). */
export function clients(fx: Fx, gameAddr: string, o: { silentAnswers?: boolean; conn?: Connection } = {}) {
  const chain = o.conn ?? conn;
  const moves: MoveRecord[] = [];
  const onMove = (m: MoveRecord) => moves.push(m);
  const worker = new GameWorker(gameAddr, fx.ops[0]!, fx.signers[0]!, { onMove, wait: () => sleep(5) });
  const challenger = new GameChallenger(gameAddr, fx.challenger, {
    onMove,
    // The in-process chain's clock moves only when told: waiting out a clock is a time jump, waiting for the
    // worker is a short sleep (or, for a silent worker, a jump past responseTime).
    wait: async (reason) => {
      if (reason === "clock") await chain.networkHelpers.time.increase(MOVE_CLOCK + 1);
      else if (o.silentAnswers) await chain.networkHelpers.time.increase(RESPONSE_TIME + 1);
      else await sleep(5);
    },
    maxPolls: 2000,
  });
  return { worker, challenger, moves };
}

export function report(label: string, moves: MoveRecord[], rounds: number | undefined, ms: number) {
  const total = moves.reduce((a, m) => a + m.gas, 0n);
  const bytes = moves.reduce((a, m) => a + m.calldataBytes, 0);
  const lines = moves.map((m, i) => `  ${String(i + 1).padStart(2)} ${m.role.padEnd(10)} ${m.move.padEnd(20)} gas ${String(m.gas).padStart(8)}  calldata ${m.calldataBytes} B`);
  console.log(`${label}: ${rounds ?? 0} rounds, ${moves.length} moves, total gas ${total}, calldata ${bytes} B, ${ms} ms\n${lines.join("\n")}`);
  return { total, bytes };
}

/** Step j's tensor with element e set to `value` (the rest of the trace unchanged). */
export function flipped(t: CanonicalTrace, j: number, e: number, delta: number): CanonicalTrace {
  const tensors = t.tensors.map((x, i) => (i === j ? withElement(x, e, (x.data as Float32Array)[e]! + delta) : x));
  return new CanonicalTrace(t.program, t.input, tensors, t.precision);
}

export function middleMapStep(): { j: number; e: number } {
  // A middle map step whose tensor spans many chunks, so the descent also bisects its DATA tree.
  const maps = world.program.steps.filter((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2 && world.honest.tensors[s.index]!.data.byteLength >= 16 * 1024);
  const s = maps[Math.floor(maps.length / 2)]!;
  const n = (world.honest.tensors[s.index]!.data as Float32Array).length;
  return { j: s.index, e: Math.floor(n / 2) };
}

interface DaemonSetup {
  conn: Connection;
  fx: Fx;
  gameAddr: string;
  blobStoreUrl: string;
  model: { hash: string; bytes: Uint8Array; inputShape: number[] };
}

/** fx.challenger's ChallengerDaemon with fraudGames on `gameAddr` (the model's file and input shape; its blobs from `blobStoreUrl`), auditing every result. */
export function gameDaemon(o: DaemonSetup, over: Partial<ConstructorParameters<typeof ChallengerDaemon>[0]> = {}): ChallengerDaemon {
  return new ChallengerDaemon({
    oracleAddress: o.fx.oracleAddr,
    runner: o.fx.challenger,
    blobStoreUrl: o.blobStoreUrl,
    policy: { maxBondAtRisk: 2n * PARAMS.challengeBond },
    fraudGames: {
      games: [o.gameAddr],
      models: new Map([[o.model.hash.toLowerCase(), { bytes: o.model.bytes, inputShape: o.model.inputShape }]]),
      audit: { secret: Buffer.alloc(32, 3), fraction: 1 },
      client: { wait: async (reason) => (reason === "clock" ? void (await o.conn.networkHelpers.time.increase(MOVE_CLOCK + 1)) : sleep(5)), maxPolls: 2000 },
    },
    ...over,
  });
}

/**
 * One poll of `daemon` passes `good` as honest (with `honestReport` in its outcome) and plays the game on `cheat`
 * to WorkerFault by the tolerance proof; `good` stays submitted, and the worker's `answerer` (closed here) saw the
 * same ruling.
 */
export async function expectDaemonWinsGame(daemon: ChallengerDaemon, o: { fx: Fx; answerer: FraudGameAnswerer; good: string; cheat: string; honestReport?: Record<string, unknown> }): Promise<void> {
  const { fx, answerer } = o;
  try {
    const outcomes = await daemon.poll();
    expect(outcomes.get(o.good)).toMatchObject({ kind: "honest", ...o.honestReport });
    expect(outcomes.get(o.cheat)).toMatchObject({ kind: "gamePlayed", ruling: GAME_RULING.WorkerFault, outcome: "toleranceProof" });
    expect((await fx.oracle.getDispute(o.cheat, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    expect(await fx.oracle.state(o.good)).toBe(BigInt(Status.Submitted));
    await answerer.settled();
    expect(answerer.outcomes.get(o.cheat.toLowerCase())).toBe("WorkerFault");
  } finally {
    await answerer.close();
  }
}
