/**
 * Randomized FraudGame disputes on the real InferenceOracle (bonds, shares, burn) and the real StepVerifier, on
 * the PP-OCR cls program run canonically (docs/OPTIMISTIC.md "Attacks and where they are tested", issue 11).
 * Seeded games, each with a random side and random behaviour:
 *
 * - the worker is honest (its canonical trace, its exact output) or cheats: a false map element in its trace
 *   (caught by descent + proveStep), a signed output beyond τ_major or beyond τ_out only (proveOutput), a worker
 *   that never commits its trace, or one that goes silent part way down the descent (timeout);
 * - 1..3 challengers join at random moments (the first one opens); a sock of the worker may open the dispute
 *   and never move, or join and front-run the honest joiner's proof with a copy;
 * - hostile joiners of an honest worker attack random nodes and try false proofs; the end comes by `resolve`
 *   after the move clock or, when nobody calls it, by the oracle's default after the dispute deadline.
 *
 * After every game: funds are conserved to the wei (oracle balance = stakes + escrowed fees + open bonds +
 * unclaimed shares + pull balances + totalBurned), an honest worker's stake never moves and it is paid every
 * joiner's bond less the burn, a cheater always loses (WorkerFault, or OutputMinor for a minor output), its stake
 * drops by exactly the slash, worker + sock lose at least the burn of the slash, and every honest joiner ends
 * with more than its bond.
 */
import { network } from "hardhat";
import { Wallet } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep } from "../../canonical/index.js";
import { seededRandom, encodeTensor, hashTensor, type Tensor, fraudGameDomain, signTraceCommitment, bytesToHex, type Hex } from "../../protocol/index.js";
import { deploy, ETH, events, expectRevert, modelInfo, PARAMS, requestAndSubmit, Ruling, send, Status, type Fx } from "../contracts/helpers.js";
import { chunkProofOf, operandProofsOf, programPathOf } from "./game-proof-helpers.js";
import { answer, clsWorld, MAX_ATTACKS, MOVE_CLOCK, pathTo, RESPONSE_TIME, stepVerifierAddress, TraceBook, withElement, type ClsWorld, type Connection, type Pos } from "./game-fixture.js";

const GAMES = Number(process.env.GAME_ROUNDS ?? 16);
const SEED = Number(process.env.GAME_SEED ?? 0x6a3e);
const BPS = 10_000n;
const B = PARAMS.challengeBond;
const R = PARAMS.resultBond;

type Kind = "honest" | "falseStep" | "outputMajor" | "outputMinor" | "silentCommit" | "silentAnswer";
const KINDS: Kind[] = ["honest", "honest", "falseStep", "outputMajor", "outputMinor", "silentCommit", "silentAnswer"];

let conn: Connection;
let world: ClsWorld;
let mapSteps: number[];
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
  mapSteps = world.program.steps.filter((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2).map((s) => s.index);
});

describe("attack: random FraudGame disputes (honest or cheating worker, random joiners, socks and timeouts)", () => {
  it(`test_randomGames_fundsConserved_honestNeverSlashed_cheaterAlwaysLoses (${GAMES} games, seed ${SEED})`, async () => {
    const fx: Fx = await deploy(conn);
    const verifier = await stepVerifierAddress(conn);
    const game: any = await fx.ethers.deployContract("FraudGame", [fx.oracleAddr, await fx.registry.getAddress(), verifier.address, RESPONSE_TIME, MOVE_CLOCK, MAX_ATTACKS]);
    const gameAddr: string = await game.getAddress();
    await send(fx.registry.connect(fx.admin).setResolverApproval(gameAddr, true));
    await send(fx.registry.connect(fx.modelOwner).registerModel(world.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 })));
    await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(world.modelHash, world.terms));
    const rnd = seededRandom(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const wallet = async () => {
      const w = Wallet.createRandom().connect(fx.ethers.provider);
      await conn.networkHelpers.setBalance(w.address, 10n * ETH);
      return w;
    };
    const pool = [await wallet(), await wallet(), await wallet()];
    const sock = await wallet(); // the worker's second address: neither its operator nor its signer
    const worker = fx.ops[0]!.address;
    const tracked = [...pool.map((w) => w.address), sock.address, ...fx.ops.map((o) => o.address), fx.relayer.address, fx.modelOwner.address, fx.requester.address];
    const ids: string[] = [];
    let openBonds = 0n;
    let unclaimed = 0n;
    const conserved = async (where: string) => {
      let stakes = 0n;
      for (const op of fx.ops) stakes += (await fx.oracle.getWorker(op.address)).stake;
      let pulls = 0n;
      for (const a of tracked) pulls += await fx.oracle.balanceOf(a);
      let escrow = 0n;
      for (const id of ids) {
        const r = await fx.oracle.getRequest(id);
        if (r.status >= BigInt(Status.Requested) && r.status <= BigInt(Status.Challenged)) escrow += r.fee;
      }
      const burned = await fx.oracle.totalBurned();
      expect(await fx.ethers.provider.getBalance(fx.oracleAddr), `conservation ${where}`).toBe(stakes + escrow + openBonds + unclaimed + pulls + burned);
    };
    const seen: Record<string, number> = {};

    for (let g = 0; g < GAMES; g++) {
      const kind = KINDS[g < KINDS.length ? g : int(KINDS.length)]!; // every kind at least once, then random
      const label = `game ${g} (${kind})`;
      // The cheater tops its stake up when slashes brought it near the minimum (each result locks a bond).
      if ((await fx.oracle.getWorker(worker)).stake < 3n * ETH / 2n) await send(fx.oracle.connect(fx.ops[0]!).addStake({ value: ETH }));
      // The worker's trace and signed output.
      let book = world.honest;
      let signed: Tensor = book.tensors[book.n - 1]!;
      let cheatAt: { j: number; e: number } | undefined;
      if (kind === "falseStep" || kind === "silentAnswer") {
        const j = mapSteps[int(mapSteps.length)]!;
        const t = book.tensors[j]!;
        const e = int(t.data.length);
        book = new TraceBook(book.tensors.map((x, i) => (i === j ? withElement(x, e, (t.data as Float32Array)[e]! + 1) : x)));
        cheatAt = { j, e };
      } else if (kind === "outputMajor" || kind === "outputMinor") {
        // Beyond τ_major: +0.5 on a probability; beyond τ_out (1e-5 + 1e-3·|c|) but within τ_major (1e-2 + 0.1·|c|): +0.005.
        signed = withElement(signed, 0, (signed.data as Float32Array)[0]! + (kind === "outputMajor" ? 0.5 : 0.005));
      }
      const { id, rec } = await requestAndSubmit(fx, 0, { modelHash: world.modelHash, inputHash: hashTensor(world.input), outputHash: hashTensor(signed) });
      ids.push(id);
      // Joiners: 1..3 from the pool (honest challengers: the signed output or the trace is wrong, or they are hostile
      // to an honest worker), and maybe the sock, which opens first or joins at a random moment.
      const honestJoiners = pool.slice(0, 1 + int(3));
      const sockMode = kind === "honest" ? "none" : (["none", "opens", "joins"] as const)[int(3)]!;
      const joined: Wallet[] = [];
      const join = async (w: Wallet) => {
        await send(fx.oracle.connect(w).challenge(id, rec, [], { value: B }));
        joined.push(w);
        openBonds += B;
      };
      if (sockMode === "opens") await join(sock as unknown as Wallet);
      await join(honestJoiners[0] as unknown as Wallet);
      const later = [...honestJoiners.slice(1), ...(sockMode === "joins" ? [sock] : [])] as unknown as Wallet[];
      const joinSome = async () => {
        while (later.length && rnd() < 0.5) await join(later.shift()!);
      };
      await conserved(`${label} opened`);
      const before: { stake: bigint; pull: bigint; sock: bigint } = { stake: (await fx.oracle.getWorker(worker)).stake, pull: await fx.oracle.balanceOf(worker), sock: await fx.oracle.balanceOf(sock.address) };
      const burnedBefore = await fx.oracle.totalBurned();

      // The worker commits its trace (unless it never does).
      if (kind === "silentCommit") {
        await joinSome();
        await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
        await send(game.connect(joined[int(joined.length)]!).timeoutCommitment(id));
      } else {
        const final = book.tensorHashes[book.n - 1]!;
        const sig = await signTraceCommitment(fx.signers[0]!, fraudGameDomain(fx.chainId, gameAddr), { requestId: id as Hex, attempt: 0, traceRoot: bytesToHex(book.root), finalHash: bytesToHex(final) });
        await send(game.connect(fx.relayer).commitTrace(id, bytesToHex(book.root), bytesToHex(final), book.manifestPath(book.n - 1), sig));
        await joinSome();
        const honestOnes = () => joined.filter((w) => w.address !== sock.address);
        const mover = () => honestOnes()[int(honestOnes().length)]!;
        const asGame = { game, submitter: fx.relayer } as never;
        if (kind === "honest") {
          // Hostile joiners attack a random prefix of the way to a random chunk; the honest worker answers each.
          const j = int(book.n);
          const c = int(book.chunkLevels[j]![0]!.length);
          const way = pathTo(book, j, c).slice(0, 1 + int(12));
          for (const pos of way) {
            await send(game.connect(mover()).attack(id, pos));
            await answer(asGame, id, book, pos);
            await joinSome();
          }
          // A false proof against a random map element of the honest trace reverts and ends nothing.
          if (rnd() < 0.5) {
            const s = world.program.steps[mapSteps[int(mapSteps.length)]!]!;
            const e = int(book.tensors[s.index]!.data.length);
            const enc = encodeStep(s);
            const reads = [...(await verifier.contract.reads(enc, e))].map((r: any) => ({ operand: r.operand as bigint, index: r.index as bigint }));
            await expectRevert(
              game.connect(mover()).proveStep(id, s.index, e, enc, programPathOf(world, s.index), chunkProofOf(encodeTensor(book.tensors[s.index]!), e, book.manifestPath(s.index)), operandProofsOf(world, s, reads, book)),
              game,
              "FraudGameNoFault",
            );
          }
          // Nobody proves anything: the end by resolve after the clock, or by the oracle's default after the deadline.
          if (rnd() < 0.5) {
            await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
            await send(game.connect(mover()).resolve(id));
          } else {
            const d = await fx.oracle.getDispute(id, 0);
            const now = BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
            await conn.networkHelpers.time.increase(d.deadline - now + 1n);
            await send(fx.oracle.connect(fx.other).resolveDisputeByDefault(id));
          }
        } else if (kind === "falseStep" || kind === "silentAnswer") {
          // The honest joiner descends to the false element's chunk (where its own trace differs from the revealed
          // nodes); the cheater answers every attack from its committed trace, or goes silent after `quitAfter`.
          const { j, e } = cheatAt!;
          const way = pathTo(book, j, Math.floor((e * 4) / 1024));
          const quitAfter = kind === "silentAnswer" ? int(way.length) : way.length;
          let timedOut = false;
          for (const [k, pos] of way.entries()) {
            await send(game.connect(mover()).attack(id, pos));
            if (k === quitAfter) {
              await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
              await send(game.connect(mover()).timeout(id, pos));
              timedOut = true;
              break;
            }
            await answer(asGame, id, book, pos);
            await joinSome();
          }
          if (!timedOut) {
            const s = world.program.steps[j]!;
            const enc = encodeStep(s);
            const reads = [...(await verifier.contract.reads(enc, e))].map((r: any) => ({ operand: r.operand as bigint, index: r.index as bigint }));
            const args = [id, j, e, enc, programPathOf(world, j), chunkProofOf(encodeTensor(book.tensors[j]!), e, book.manifestPath(j)), operandProofsOf(world, s, reads, book)] as const;
            // A sock that joined may front-run the honest proof with a copy: same ruling, same shares.
            const prover = sockMode !== "none" && joined.includes(sock as unknown as Wallet) && rnd() < 0.5 ? (sock as unknown as Wallet) : mover();
            await send(game.connect(prover).proveStep(...args));
          }
        } else {
          // A signed output beyond τ_out (or τ_major) against the honest final tensor; recorded, ruled at the end.
          const out = encodeTensor(signed);
          const fin = encodeTensor(book.tensors[book.n - 1]!);
          const last = book.n - 1;
          await send(game.connect(mover()).proveOutput(id, 0, chunkProofOf(out, 0, []), chunkProofOf(fin, 0, []), encodeStep(world.program.steps[last]!), programPathOf(world, last)));
          await joinSome();
          await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
          await send(game.connect(joined[int(joined.length)]!).resolve(id));
        }
      }

      // The ruling and who holds what.
      const d = await fx.oracle.getDispute(id, 0);
      const ruling = Number(d.ruling);
      const n = BigInt(joined.length);
      expect(BigInt(d.joiners), label).toBe(n);
      const pot = n * B;
      openBonds -= pot;
      const after: { stake: bigint; pull: bigint } = { stake: (await fx.oracle.getWorker(worker)).stake, pull: await fx.oracle.balanceOf(worker) };
      const burned = (await fx.oracle.totalBurned()) - burnedBefore;
      if (kind === "honest") {
        expect(ruling, label).toBe(Ruling.WorkerRight);
        expect(after.stake, `${label}: an honest worker is never slashed`).toBe(before.stake);
        expect(after.pull - before.pull, label).toBe(pot - n * ((B * BigInt(PARAMS.burnBps)) / BPS));
        expect(burned, label).toBe(n * ((B * BigInt(PARAMS.burnBps)) / BPS));
        expect((await fx.oracle.getRequest(id)).status, label).toBe(BigInt(Status.Submitted));
      } else {
        expect(ruling, label).toBe(kind === "outputMinor" ? Ruling.OutputMinor : Ruling.WorkerFault);
        const slashed = ruling === Ruling.WorkerFault ? R : (R * BigInt(PARAMS.tolerancePenaltyBps)) / BPS;
        expect(before.stake - after.stake, `${label}: the slash`).toBe(slashed);
        expect(after.pull, label).toBe(before.pull);
        expect((await fx.oracle.getRequest(id)).status, `${label}: reopened`).toBe(BigInt(Status.Requested));
        unclaimed += d.share * n;
        await conserved(`${label} ruled`);
        // Everyone claims: each honest joiner ends above its bond; worker + sock lose at least the burn of the slash.
        const sockJoined = joined.some((w) => w.address === sock.address);
        for (const w of joined) {
          const b0: bigint = await fx.oracle.balanceOf(w.address);
          await send(fx.oracle.connect(w).claimDispute(id, 0));
          const got: bigint = (await fx.oracle.balanceOf(w.address)) - b0;
          expect(got, label).toBe(d.share);
          expect(got > B, `${label}: an honest joiner profits`).toBe(true);
          unclaimed -= got;
        }
        const sockNet: bigint = sockJoined ? (await fx.oracle.balanceOf(sock.address)) - before.sock - B : 0n;
        const coalitionLoss = before.stake - after.stake - sockNet;
        expect(coalitionLoss >= (slashed * BigInt(PARAMS.burnBps)) / BPS, `${label}: the cheater never breaks even`).toBe(true);
        expect(burned, label).toBe(slashed + pot - d.share * n);
      }
      await conserved(`${label} end`);
      seen[kind] = (seen[kind] ?? 0) + 1;
    }
    console.log(`random games: ${JSON.stringify(seen)}; burned ${await fx.oracle.totalBurned()} wei`);
  }, 120_000);
});
