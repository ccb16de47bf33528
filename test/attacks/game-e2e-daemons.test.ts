/**
 * Issue 11 end to end, the daemons' side: worker/game-answerer.ts (FraudGameAnswerer answers a game by itself,
 * its trace rebuilt from the pinned model) and challenger/game-player.ts (playGameDispute) on an output beyond
 * τ_major, and the ChallengerDaemon with fraudGames auditing canonically, disputing and playing (WorkerFault),
 * passing an honest result, and on a withheld output (issue 18) publishing the canonical bytes or reporting a
 * non-canonical hash (and looking for its bytes again), never passing it as honest. The clients' descent itself: game-e2e.test.ts.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { tauFromBits, type CanonicalTrace } from "../../canonical/index.js";
import { GAME_RULING, type MoveRecord } from "../../protocol/fraud-game-client.js";
import { hashTensor, type Tensor, type Hex, encodeTensor, hashEncoded } from "../../protocol/index.js";
import { FraudGameAnswerer, pinnedPrograms } from "../../worker/index.js";
import { playGameDispute, auditResult, ProgramCache } from "../../challenger/index.js";
import { blobStore } from "../challenger/fixtures.js";
import { requestAndSubmit, Ruling } from "../contracts/helpers.js";
import { CLS_PATH, CLS_SHAPE, MOVE_CLOCK, withElement, worldAnswerer, type ClsWorld, type Connection } from "./game-fixture.js";
import { expectDaemonWinsGame, gameDaemon, gameE2eWorld, report, setup, sleep } from "./game-e2e-fixture.js";

let conn: Connection;
let world: ClsWorld;
let honest: CanonicalTrace;
beforeAll(async () => {
  ({ conn, world, honest } = await gameE2eWorld());
});

describe("the daemons' game pieces: worker/game-answerer.ts and challenger/game-player.ts", () => {
  it("test_answerer_and_player_auditDisputesBeyondTauMajor_answererRespondsByItself_WorkerFault; within τ: skipped", async () => {
    const { fx, gameAddr } = await setup();
    const n = honest.stepCount;
    const final = honest.tensor(n - 1);
    // Signed beyond τ_major at element 0 (the worker's trace, rebuilt by the answerer from the input, is canonical).
    const signed = withElement(final, 0, (final.data as Float32Array)[0]! + 0.5);
    const { id, rec } = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(signed) });
    const moves: MoveRecord[] = [];
    const answerer = new FraudGameAnswerer({
      provider: fx.ethers.provider,
      sender: fx.ops[0]!,
      traceSigner: fx.signers[0]!,
      signerAddress: fx.signers[0]!.address,
      oracle: fx.oracleAddr,
      game: gameAddr,
      // The worker's pinned model, lowered from its file at the pinned input shape (as worker/main.ts does).
      programOf: pinnedPrograms([{ modelHash: world.modelHash, input: { shape: CLS_SHAPE } }], async () => CLS_PATH),
      inputOf: async (r) => (r.toLowerCase() === id.toLowerCase() ? world.input : undefined),
      pollIntervalMs: 10,
      logger: pino({ level: "silent" }),
      client: { wait: () => sleep(5), onMove: (m) => moves.push(m) },
    });
    await answerer.start();
    try {
      const bytes = readFileSync(CLS_PATH);
      const cache = new ProgramCache();
      const target = (output: Tensor) => ({
        requestId: id as Hex,
        model: { key: world.modelHash, bytes, inputShape: CLS_SHAPE },
        precision: "fp32" as const,
        tau: tauFromBits(BigInt(world.terms.tauOutAbs), BigInt(world.terms.tauOutRel)),
        input: world.input,
        output,
      });
      const verdict = auditResult(target(signed), { secret: Buffer.alloc(32, 1), fraction: 1 }, cache);
      expect(verdict.status).toBe("dispute");
      const client = {
        onMove: (m: MoveRecord) => moves.push(m),
        wait: async (reason: string) => (reason === "clock" ? void (await conn.networkHelpers.time.increase(MOVE_CLOCK + 1)) : sleep(5)),
        maxPolls: 2000,
      };
      // Another deployment only: the model's resolver is not a game this challenger plays.
      const other = await playGameDispute(verdict, { sender: fx.challenger, oracle: fx.oracleAddr, games: [fx.oracleAddr], modelHash: world.modelHash as Hex, record: rec, output: signed, client });
      expect(other.kind).toBe("skipped");
      const out = await playGameDispute(verdict, { sender: fx.challenger, oracle: fx.oracleAddr, games: [gameAddr], modelHash: world.modelHash as Hex, record: rec, output: signed, client });
      expect(out.kind).toBe("played");
      if (out.kind !== "played") return;
      expect(out.result.outcome).toBe("toleranceProof");
      expect(out.result.ruling).toBe(GAME_RULING.WorkerFault);
      await answerer.settled();
      // The worker's side was played by the answerer alone: it saw the game, committed, and saw the ruling.
      expect(answerer.outcomes.get(id.toLowerCase())).toBe("WorkerFault");
      expect(moves.map((m) => m.move)).toEqual(["commitTrace", "proveOutput", "resolve"]);
      expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
      report("daemon pieces, output beyond τ_major", moves, 0, 0);
      // An output within τ_out: the audit says "within", nothing is played.
      const within = auditResult(target(final), { secret: Buffer.alloc(32, 1), fraction: 1 }, cache);
      expect(within.status).toBe("within");
      expect((await playGameDispute(within, { sender: fx.challenger, oracle: fx.oracleAddr, games: [gameAddr], modelHash: world.modelHash as Hex, record: rec, output: final, client })).kind).toBe("skipped");
    } finally {
      await answerer.close();
      await answerer.close();
    }
  });
});

describe("ChallengerDaemon with fraudGames (the config switch) and the worker's FraudGameAnswerer", () => {
  it("test_daemon_fraudGame_auditsCanonically_disputesAndPlays_WorkerFault; within τ: honest", async () => {
    const { fx, gameAddr } = await setup();
    const store = await blobStore();
    try {
      const put = (t: Tensor) => {
        const e = encodeTensor(t);
        store.blobs.set(hashEncoded(e).toLowerCase(), e);
      };
      const final = honest.tensor(honest.stepCount - 1);
      const bad = withElement(final, 0, (final.data as Float32Array)[0]! + 0.5);
      put(world.input);
      put(bad);
      put(final);
      const good = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(final) });
      const cheat = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(bad) });
      const answerer = worldAnswerer(fx, gameAddr, world);
      await answerer.start();
      const model = { hash: world.modelHash, bytes: readFileSync(CLS_PATH), inputShape: CLS_SHAPE };
      await expectDaemonWinsGame(gameDaemon({ conn, fx, gameAddr, blobStoreUrl: store.url, model }), { fx, answerer, good: good.id, cheat: cheat.id });
    } finally {
      await new Promise<void>((resolve) => store.server.close(() => resolve()));
    }
  });
});

describe("ChallengerDaemon on a withheld output (issue 18, large outputs)", () => {
  it("test_daemon_withheldOutput_canonicalHash_honestAndPublished; notCanonical_reportedNeverHonest", async () => {
    const { fx, gameAddr } = await setup();
    const store = await blobStore();
    try {
      const input = encodeTensor(world.input);
      store.blobs.set(hashEncoded(input).toLowerCase(), input);
      const final = honest.tensor(honest.stepCount - 1);
      const bad = withElement(final, 0, (final.data as Float32Array)[0]! + 0.5);
      // Both workers commit a hash and publish no bytes.
      const good = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(final) });
      const cheat = await requestAndSubmit(fx, 1, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(bad) });
      const outcomes = await gameDaemon({ conn, fx, gameAddr, blobStoreUrl: store.url, model: { hash: world.modelHash, bytes: readFileSync(CLS_PATH), inputShape: CLS_SHAPE } }).poll();
      // The canonical output hashes to the committed hash: honest, and its bytes are now published.
      expect(outcomes.get(good.id)).toMatchObject({ kind: "honest" });
      const published = store.blobs.get(hashTensor(final).toLowerCase());
      expect(published).toBeDefined();
      expect(hashEncoded(published!)).toBe(hashTensor(final));
      // Not the canonical output, bytes withheld: reported (never passed as honest), nothing published; looked
      // for again while the window is open (test/attacks/multi-io-withheld.test.ts: bytes published late).
      expect(outcomes.get(cheat.id)).toMatchObject({ kind: "deferred" });
      expect((outcomes.get(cheat.id) as { reason: string }).reason).toMatch(/output withheld: the worker committed/);
      expect(store.blobs.has(hashTensor(bad).toLowerCase())).toBe(false);
    } finally {
      await new Promise<void>((resolve) => store.server.close(() => resolve()));
    }
  });
});
