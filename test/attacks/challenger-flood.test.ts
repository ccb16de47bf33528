/**
 * Issue 13, finding 7 (what remains after the v1 trace path was removed: the challenger still fetches a
 * FraudGame result's input and output from the blob store and plays the game). On the real InferenceOracle +
 * FraudGame with the PP-OCR cls model's canonical terms:
 * - a flood that makes the store answer 429, 503 or reset the connection (what rate-limiting the
 *   challenger's shared address does) never leads to a dispute: every audit is deferred, no bond is sent, and
 *   a restarted daemon (same statePath) resumes the deferred audits once the store answers: the honest result
 *   is found honest and the cheater's result is still disputed and slashed (WorkerFault);
 * - a store that never answers (a poisoned blob that hangs or crashes the challenger) costs at most
 *   `maxAuditStarts` starts: the state a crash leaves behind is read back and the third daemon gives the audit
 *   up without a single download.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CanonicalTrace } from "../../canonical/index.js";
import { ChallengerDaemon, type DaemonTransaction } from "../../challenger/index.js";
import { GAME_RULING } from "../../protocol/fraud-game-client.js";
import { encodeTensor, hashEncoded, hashTensor, type Tensor } from "../../protocol/index.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Ruling, Status, type Fx } from "../contracts/helpers.js";
import { CLS_PATH, CLS_SHAPE, clsWorld, MAX_ATTACKS, MOVE_CLOCK, RESPONSE_TIME, withElement, worldAnswerer, type ClsWorld, type Connection } from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let honest: CanonicalTrace;
const dir = mkdtempSync(join(tmpdir(), "challenger-flood-"));
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
  honest = new CanonicalTrace(world.program, world.input, world.honest.tensors, "fp32");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Mode = "flood" | "ok" | "hang";

/** A blob store whose GETs the test can flood (429, 503 and resets in turn), hang, or serve; it counts GETs. */
async function store(initial: Mode) {
  const blobs = new Map<string, Buffer>();
  const sockets = new Set<Socket>();
  const state = { mode: initial, gets: 0, floodAnswers: { "429": 0, "503": 0, reset: 0 } };
  let turn = 0;
  const server: Server = createServer((req, res: ServerResponse) => {
    state.gets++;
    if (state.mode === "hang") return; // never answers
    if (state.mode === "flood") {
      const kind = (["429", "503", "reset"] as const)[turn++ % 3]!;
      state.floodAnswers[kind]++;
      if (kind === "reset") return void req.socket.destroy();
      return void res.writeHead(Number(kind), kind === "429" ? { "retry-after": "1" } : {}).end("slow down");
    }
    const blob = blobs.get(req.url!.replace(/^\/blobs\//, "").toLowerCase());
    res.writeHead(blob === undefined ? 404 : 200).end(blob);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    put(t: Tensor) {
      const e = encodeTensor(t);
      blobs.set(hashEncoded(e).toLowerCase(), e);
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

async function setup() {
  const fx: Fx = await deploy(conn, { game: { responseTime: RESPONSE_TIME, moveClock: MOVE_CLOCK, maxAttacks: MAX_ATTACKS } });
  const game = fx.game;
  const gameAddr: string = await game.getAddress();
  await fx.registry.connect(fx.modelOwner).registerModel(world.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 }));
  await fx.registry.connect(fx.modelOwner).setCanonicalTerms(world.modelHash, world.terms);
  return { fx, gameAddr };
}

function daemonOptions(fx: Fx, gameAddr: string, url: string, statePath: string, txs: DaemonTransaction[], fetch: { attempts: number; timeoutMs: number }) {
  return {
    oracleAddress: fx.oracleAddr,
    runner: fx.challenger,
    blobStoreUrl: url,
    models: new Map<string, never>(),
    policy: { fraction: 1, maxBondAtRisk: 2n * PARAMS.challengeBond },
    statePath,
    maxAuditStarts: 2,
    fetch: { ...fetch, backoffMs: 10, retryBaseMs: 100, retryMaxMs: 400 },
    onTransaction: (t: DaemonTransaction) => txs.push(t),
    logger: pino({ level: "silent" }),
    fraudGames: {
      games: [gameAddr],
      models: new Map([[world.modelHash.toLowerCase(), { bytes: readFileSync(CLS_PATH), inputShape: CLS_SHAPE }]]),
      audit: { secret: Buffer.alloc(32, 3), fraction: 1 },
      client: { wait: async (reason: string) => (reason === "clock" ? void (await conn.networkHelpers.time.increase(MOVE_CLOCK + 1)) : sleep(5)), maxPolls: 2000 },
    },
  };
}

describe("attack: blinding the challenger through its blob store (issue 13, finding 7)", () => {
  it("test_flood_429_503_reset_deferredNeverDisputed; restarted from statePath, the honest result stands and the cheater is slashed", async () => {
    const { fx, gameAddr } = await setup();
    const s = await store("flood");
    const statePath = join(dir, "flood.json");
    const final = honest.tensor(honest.stepCount - 1);
    const bad = withElement(final, 0, (final.data as Float32Array)[0]! + 0.5);
    s.put(world.input);
    s.put(final);
    s.put(bad);
    const good = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(final) });
    const cheat = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(bad) });
    const txs: DaemonTransaction[] = [];
    try {
      // The flood: two polls, every fetch answered 429 / 503 / reset.
      const flooded = new ChallengerDaemon(daemonOptions(fx, gameAddr, s.url, statePath, txs, { attempts: 3, timeoutMs: 5000 }));
      for (let i = 0; i < 2; i++) {
        const outcomes = await flooded.poll();
        expect(outcomes.get(good.id)).toMatchObject({ kind: "deferred" });
        expect(outcomes.get(cheat.id)).toMatchObject({ kind: "deferred" });
        await sleep(450);
      }
      expect(s.state.floodAnswers["429"]).toBeGreaterThan(0);
      expect(s.state.floodAnswers["503"]).toBeGreaterThan(0);
      expect(s.state.floodAnswers.reset).toBeGreaterThan(0);
      expect(txs).toEqual([]); // no bond sent, no move made
      expect(flooded.bondAtRisk()).toBe(0n);
      expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Submitted));
      expect(await fx.oracle.state(cheat.id)).toBe(BigInt(Status.Submitted));
      const saved = JSON.parse(readFileSync(statePath, "utf8")) as { deferred: [string, unknown][]; pending: { requestId: string }[] };
      expect(new Set(saved.deferred.map(([id]) => id.toLowerCase()))).toEqual(new Set([good.id.toLowerCase(), cheat.id.toLowerCase()]));

      // The flood ends; a new daemon process (same statePath, no startBlock: the cursor comes from the file).
      s.state.mode = "ok";
      const answerer = worldAnswerer(fx, gameAddr, world);
      await answerer.start();
      try {
        await sleep(450);
        const restarted = new ChallengerDaemon(daemonOptions(fx, gameAddr, s.url, statePath, txs, { attempts: 3, timeoutMs: 5000 }));
        const outcomes = await restarted.poll();
        expect(outcomes.get(good.id)).toMatchObject({ kind: "honest" });
        expect(outcomes.get(cheat.id)).toMatchObject({ kind: "gamePlayed", ruling: GAME_RULING.WorkerFault });
        expect((await fx.oracle.getDispute(cheat.id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
        expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Submitted));
        expect(txs.filter((t) => t.label === "challenge").map((t) => t.requestId?.toLowerCase())).toEqual([cheat.id.toLowerCase()]);
        await answerer.settled();
      } finally {
        await answerer.close();
      }
    } finally {
      await s.close();
    }
  }, 300_000);

  it("test_hangingStore_crashLeavesState_auditGivenUpAfterMaxAuditStarts_noDownload", async () => {
    const { fx, gameAddr } = await setup();
    const final = honest.tensor(honest.stepCount - 1);
    const r = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(final) });
    const stores = [await store("hang"), await store("hang"), await store("ok")];
    const txs: DaemonTransaction[] = [];
    const polls: Promise<unknown>[] = [];
    try {
      // Two daemons in turn hang on the store mid-audit; each "crash" leaves the state file as it was on disk then.
      let from: string | undefined;
      for (let i = 0; i < 2; i++) {
        const live = join(dir, `hang-live-${i}.json`);
        if (from !== undefined) copyFileSync(from, live);
        const d = new ChallengerDaemon(daemonOptions(fx, gameAddr, stores[i]!.url, live, txs, { attempts: 1, timeoutMs: 120_000 }));
        polls.push(d.poll().catch(() => undefined));
        const deadline = Date.now() + 60_000;
        while (stores[i]!.state.gets === 0 && Date.now() < deadline) await sleep(20);
        expect(stores[i]!.state.gets).toBeGreaterThan(0);
        const crashed = join(dir, `hang-crash-${i}.json`);
        writeFileSync(crashed, readFileSync(live)); // what a SIGKILL leaves behind
        const saved = JSON.parse(readFileSync(crashed, "utf8")) as { starts: [string, number][] };
        expect(saved.starts.map(([id, n]) => [id.toLowerCase(), n])).toEqual([[r.id.toLowerCase(), i + 1]]);
        from = crashed;
      }
      const last = join(dir, "hang-after.json");
      copyFileSync(from!, last);
      const third = new ChallengerDaemon(daemonOptions(fx, gameAddr, stores[2]!.url, last, txs, { attempts: 1, timeoutMs: 5000 }));
      const outcomes = await third.poll();
      expect(outcomes.get(r.id)).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/started 2 times without finishing/) });
      expect(stores[2]!.state.gets).toBe(0);
      expect(txs).toEqual([]);
      // And it is not picked up again.
      expect((await third.poll()).size).toBe(0);
    } finally {
      for (const s of stores) await s.close();
      await Promise.all(polls);
    }
  }, 300_000);
});
