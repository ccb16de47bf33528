/**
 * Issue 14 × issue 18: a withheld OUTPUT BUNDLE (a model with several named outputs whose worker signs the bundle
 * hash and publishes no bytes), audited by the ChallengerDaemon (challenger/daemon-game.ts `withheld`): every output
 * recomputed canonically from the input bundle, encoded and hashed as the worker does (protocol/bundle.ts), published
 * when it hashes to the committed hash. The model: the 2-in / 2-out recurrent cell (multi-io-fixture.ts).
 *
 * Who could abuse it, and the answer tested here:
 * - A worker withholding a RIGHT bundle (it ran the canonical runtime, or its fast runtime matched it bit for bit):
 *   nothing to gain but the upload it skipped. The daemon recomputes it, finds the committed hash, calls the
 *   result honest and publishes the bundle, so the requester fetches it (checked against the hash) and it settles.
 * - A worker withholding a WRONG bundle: it must never pass as honest. The canonical bundle hashes elsewhere; the
 *   daemon cannot tell a wrong bundle from an honest fast runtime's (which differs from canonical within τ_out)
 *   without the bytes, so it reports it (deferred, then skipped with both hashes), publishes nothing and opens no
 *   dispute: on the hash alone a worker answering with the canonical trace wins (WorkerRight, the challenger's
 *   bond lost), since nobody can open its signed outputs (openBundle of the canonical members reverts). A false
 *   trace would still lose the descent, which needs no output bytes (multi-io-dispute.test.ts). Withholding every
 *   result to tie up the daemon's CPU costs it one canonical run per result: later looks reuse the hash.
 * - The same worker publishing its wrong bundle late, racing the audit (after the daemon's 404): the daemon looks
 *   for the bytes again at every later poll while the challenge window is open, and once they appear audits
 *   them like any other result: disputed, the game played, WorkerFault, the worker slashed. (Bytes first
 *   published after the window can no longer be disputed: docs/PROTOCOL.md "Withheld bytes".)
 * - A publisher racing with a DIFFERENT bundle under the committed hash (to have the requester deliver other
 *   outputs): the store refuses bytes that do not hash to the name they are put under, the daemon publishes only
 *   what hashes to the committed hash, and the oracle refuses any other bytes at settlement. A racer publishing
 *   the right bundle between the daemon's 404 and its upload changes nothing (one copy per hash; still honest).
 * - A model registered under output names other than its file's: the canonical bundle cannot be named as the
 *   worker's, so the daemon says so (skipped, with both name lists) rather than guess.
 */
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { GAME_RULING, GameChallenger, GameWorker } from "../../protocol/fraud-game-client.js";
import { BlobClient, decodeBundle, encodeTensor, hashBundle, hashTensor, type Hex, type Tensor } from "../../protocol/index.js";
import { prepareDispute } from "../../worker/index.js";
import { blobStore } from "../challenger/fixtures.js";
import { expectRevert, PARAMS, requestAndSubmit, Ruling, send, Status, type Fx } from "../contracts/helpers.js";
import { MOVE_CLOCK, withElement } from "./game-fixture.js";
import { CELL_OUTPUT_ELEMENTS, inputBundleOf, inputHashOf, multiIoAnswerer, multiIoDaemon, multiIoSetup, multiIoWorld, OUTPUTS, outputBundleOf, outputHashOf, sleep, type MultiIoWorld } from "./multi-io-fixture.js";

let w: MultiIoWorld;
let canonical: Tensor[];
let wrong: Tensor[];
beforeAll(async () => {
  w = await multiIoWorld();
  canonical = w.honest.outputs;
  const [stateN, y] = canonical as [Tensor, Tensor];
  // One element of output y off by 0.5: beyond τ_major, in the bundle's second entry.
  wrong = [stateN, withElement(y, 1, (y.data as Float32Array)[1]! + 0.5)];
});

/** A blob store holding the request's input bundle only (the worker publishes no output). */
async function storeWithInput() {
  const store = await blobStore();
  const input = inputBundleOf(w);
  store.blobs.set(inputHashOf(w).toLowerCase(), input);
  return store;
}

async function withStore(body: (store: Awaited<ReturnType<typeof blobStore>>) => Promise<void>) {
  const store = await storeWithInput();
  try {
    await body(store);
  } finally {
    await new Promise<void>((resolve) => store.server.close(() => resolve()));
  }
}

/** Worker 0 answers a request on the cell with the bundle hash of `outputs`, and publishes nothing. */
const submitHashOnly = (fx: Fx, outputs: readonly Tensor[]) => requestAndSubmit(fx, 0, { modelHash: w.modelHash, inputHash: inputHashOf(w), outputHash: outputHashOf(outputs) });

describe("ChallengerDaemon on a withheld output bundle", () => {
  it("test_daemon_rightBundleWithheld_recomputed_honestAndPublished_requesterFetchesAndSettles", async () => {
    const { fx, gameAddr } = await multiIoSetup(w);
    await withStore(async (store) => {
      const good = await submitHashOnly(fx, canonical);
      const committed = outputHashOf(canonical).toLowerCase();
      expect(store.blobs.has(committed)).toBe(false);
      const outcomes = await multiIoDaemon(w, fx, gameAddr, store.url).poll();
      expect(outcomes.get(good.id)).toEqual({ kind: "honest", checkedElements: CELL_OUTPUT_ELEMENTS });
      // Published under the committed hash: the very bytes the worker would have encoded (names, order, bits).
      expect(store.blobs.get(committed)).toEqual(outputBundleOf(canonical));
      // The requester fetches it through the blob client (hash-checked) and reads both outputs by name.
      const fetched = decodeBundle(await new BlobClient({ storeUrl: store.url }).download(committed, { maxBytes: 1 << 20 }));
      expect([...fetched.keys()]).toEqual(["stateN", "y"]);
      expect(hashTensor(fetched.get("stateN")!)).toBe(hashTensor(canonical[0]!));
      expect(hashTensor(fetched.get("y")!)).toBe(hashTensor(canonical[1]!));
      // No dispute; after the window the result settles with the published bytes, and never with other bytes.
      expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Submitted));
      await w.conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
      await expectRevert(fx.oracle.settle({ requestId: good.id, record: good.rec, output: outputBundleOf(wrong), proof: [] }), fx.oracle, "OracleOutputHashMismatch");
      await send(fx.oracle.settle({ requestId: good.id, record: good.rec, output: store.blobs.get(committed)!, proof: [] }));
      expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Fulfilled));
    });
  });

  it("test_daemon_wrongBundleWithheld_neverHonest_deferred_thenPublishedLate_disputed_WorkerFault", async () => {
    const { fx, gameAddr } = await multiIoSetup(w);
    await withStore(async (store) => {
      const cheat = await submitHashOnly(fx, wrong);
      const answerer = multiIoAnswerer(w, fx, gameAddr);
      await answerer.start();
      try {
        // Due again at the next poll (no backoff), so the test can play the worker's late upload.
        const warnings: string[] = [];
        const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
        const daemon = multiIoDaemon(w, fx, gameAddr, store.url, { fetch: { retryBaseMs: 0 }, logger });
        const first = (await daemon.poll()).get(cheat.id)!;
        expect(first.kind).toBe("deferred");
        const reason = (first as { reason: string }).reason;
        expect(reason).toContain(`output bundle withheld: the worker committed ${outputHashOf(wrong)}`);
        expect(reason).toContain(`the canonical output bundle hashes to ${outputHashOf(canonical)}`);
        // Nothing published (neither the committed hash nor the canonical bundle), no bond posted, no dispute.
        expect(store.blobs.size).toBe(1);
        expect(daemon.bondAtRisk()).toBe(0n);
        expect(await fx.oracle.state(cheat.id)).toBe(BigInt(Status.Submitted));
        expect(daemon.pendingRetries().has(cheat.id)).toBe(true);
        // Still withheld at the next polls: still reported, still not honest, and recomputed only once (a worker
        // withholding every result costs the daemon one canonical run each, not one per look).
        expect((await daemon.poll()).get(cheat.id)).toMatchObject({ kind: "deferred", reason });
        expect((await daemon.poll()).get(cheat.id)).toMatchObject({ kind: "deferred", reason });
        expect(warnings.filter((l) => l.includes("withheld and not the canonical one"))).toHaveLength(1);
        // The worker publishes its wrong bundle late, within the window: audited like any other result and lost.
        store.blobs.set(outputHashOf(wrong).toLowerCase(), outputBundleOf(wrong));
        const op = fx.ops[0]!.address;
        const stakeBefore = (await fx.oracle.getWorker(op)).stake;
        const outcome = (await daemon.poll()).get(cheat.id);
        expect(outcome).toMatchObject({ kind: "gamePlayed", ruling: GAME_RULING.WorkerFault, outcome: "toleranceProof" });
        expect((await fx.oracle.getDispute(cheat.id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
        expect((await fx.oracle.getWorker(op)).stake).toBeLessThan(stakeBefore);
        expect(daemon.pendingRetries().has(cheat.id)).toBe(false);
        await answerer.settled();
        expect(answerer.outcomes.get(cheat.id.toLowerCase())).toBe("WorkerFault");
      } finally {
        await answerer.close();
      }
    });
  });

  it("test_daemon_wrongBundleWithheldUntilWindowCloses_skippedWithBothHashes; disputeOnHashAlone_WorkerRight_bondLost", async () => {
    const { fx, gameAddr } = await multiIoSetup(w);
    await withStore(async (store) => {
      const cheat = await submitHashOnly(fx, wrong);
      // 30 s of the window left, the next look a minute away: the daemon gives up now, with the reason.
      await w.conn.networkHelpers.time.increase(PARAMS.challengeWindow - 30);
      const daemon = multiIoDaemon(w, fx, gameAddr, store.url, { fetch: { retryBaseMs: 60_000 } });
      const outcome = (await daemon.poll()).get(cheat.id)!;
      expect(outcome.kind).toBe("skipped");
      expect((outcome as { reason: string }).reason).toMatch(/^output bundle withheld: the worker committed 0x[0-9a-f]{64}, the canonical output bundle hashes to 0x[0-9a-f]{64} \(until the challenge window closed\)$/);
      expect(daemon.pendingRetries().size).toBe(0);
      expect(store.blobs.size).toBe(1);
      // Why the daemon does not dispute on the hash alone: a challenger who does, against a worker answering with
      // the canonical trace, cannot open the signed bundle (the canonical members are not its members) and loses.
      await send(fx.oracle.connect(fx.challenger).challenge(cheat.id, cheat.rec, [], { value: PARAMS.challengeBond }));
      const op = fx.ops[0]!.address;
      const [workerBalance, stake] = [await fx.oracle.balanceOf(op), (await fx.oracle.getWorker(op)).stake];
      const worker = new GameWorker(gameAddr, fx.ops[0]!, fx.signers[0]!, { wait: () => sleep(5) });
      const challenger = new GameChallenger(gameAddr, fx.challenger, {
        wait: async (reason) => (reason === "clock" ? void (await w.conn.networkHelpers.time.increase(MOVE_CLOCK + 1)) : sleep(5)),
        maxPolls: 2000,
      });
      const responder = prepareDispute({ program: w.program, input: w.inputs, precision: "fp32", requestId: cheat.id as Hex, attempt: 0, inputHash: inputHashOf(w) });
      const responding = worker.respond(responder);
      await challenger.awaitCommitment(cheat.id as Hex);
      await expectRevert(fx.game.connect(fx.challenger).openBundle(cheat.id, true, canonical.map((t) => hashTensor(t))), fx.game, "FraudGameBadProof", [22n]);
      const [wRuling, play] = await Promise.all([responding, challenger.play(cheat.id as Hex, w.honest, canonical)]);
      expect(play.ruling).toBe(GAME_RULING.WorkerRight);
      expect(wRuling).toBe(GAME_RULING.WorkerRight);
      expect((await fx.oracle.getDispute(cheat.id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
      // The challenger's bond went to the worker (less the burn); the worker's stake is untouched.
      expect(await fx.oracle.balanceOf(op)).toBeGreaterThan(workerBalance);
      expect((await fx.oracle.getWorker(op)).stake).toBe(stake);
    });
  });

  it("test_daemon_racingPublishers_differentBundleRefused_rightBundleRace_stillHonest_oneCopy", async () => {
    const { fx, gameAddr } = await multiIoSetup(w);
    await withStore(async (store) => {
      const good = await submitHashOnly(fx, canonical);
      const committed = outputHashOf(canonical).toLowerCase();
      // A racer puts other bytes under the committed hash (wrong values, the outputs swapped between the names, one
      // output as a bare tensor): refused by the store.
      for (const other of [outputBundleOf(wrong), outputBundleOf([canonical[1]!, canonical[0]!]), encodeTensor(canonical[1]!)]) {
        const res = await fetch(`${store.url}/blobs/${committed}`, { method: "PUT", body: new Uint8Array(other) });
        expect(res.status).toBe(400);
      }
      expect(store.blobs.has(committed)).toBe(false);
      // The worker publishes the right bundle just after the store answered the daemon 404 (during its recompute).
      const get = store.blobs.get.bind(store.blobs);
      let raced = false;
      store.blobs.get = (hash: string) => {
        if (hash !== committed || raced) return get(hash);
        raced = true;
        store.blobs.set(committed, outputBundleOf(canonical));
        return undefined;
      };
      const outcomes = await multiIoDaemon(w, fx, gameAddr, store.url).poll();
      expect(raced).toBe(true);
      expect(outcomes.get(good.id)).toEqual({ kind: "honest", checkedElements: CELL_OUTPUT_ELEMENTS });
      expect(get(committed)).toEqual(outputBundleOf(canonical));
      expect(store.blobs.size).toBe(2);
    });
  });

  it("test_daemon_bundleWithheld_registeredNamesNotTheFiles_skippedWithReason_neverHonest", async () => {
    // Registered under other output names than the file's: the canonical bundle cannot be named as the worker's.
    const { fx, gameAddr } = await multiIoSetup(w, [{ ...OUTPUTS[0]!, name: "h" }, { ...OUTPUTS[1]!, name: "out" }]);
    await withStore(async (store) => {
      const r = await requestAndSubmit(fx, 0, { modelHash: w.modelHash, inputHash: inputHashOf(w), outputHash: hashBundle({ h: canonical[0]!, out: canonical[1]! }) });
      const outcome = (await multiIoDaemon(w, fx, gameAddr, store.url).poll()).get(r.id);
      expect(outcome).toEqual({ kind: "skipped", reason: "output bundle withheld, and the registered outputs (h, out) are not the model file's (stateN, y)" });
      expect(store.blobs.size).toBe(1);
    });
  });
});
