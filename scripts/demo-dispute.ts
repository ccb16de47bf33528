/**
 * `npm run demo:dispute`: a dispute end to end on the in-process stack through the FraudGame, the OPTIMISTIC
 * dispute path (docs/OPTIMISTIC.md). The PP-OCR classifier is registered with the game: its canonical terms
 * (program commitment, τ_out calibrated against onnxruntime) set once. No worker builds or uploads a trace for
 * an undisputed result.
 *
 * A CHEATING worker (scripts/fault-injection.ts GameCheater: fault injection for demos and tests only) signs the
 * classifier's two probabilities swapped (the wrong answer) and, once disputed, defends a canonical trace forged
 * to match: one element of a middle step altered. It is the only worker up when the dApp asks. The challenger
 * daemon re-runs the result canonically, finds the output beyond τ_out, challenges, and plays the bisection down
 * to the altered element, proven false by a one-step leaf proof; the worker is slashed and the request reopens;
 * the honest worker (started then; its answerer on by default) serves it; the daemon re-runs that result too and
 * leaves it; after the challenge window (advanced on the local chain) it settles and the dApp receives the
 * correct answer.
 *
 *   npm run demo:dispute              the timeline
 *   npm run demo:dispute -- --json    the same, with a JSON summary on the last line
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatEther } from "ethers";
import { ChallengerDaemon, type DaemonTransaction } from "../challenger/index.js";
import { BlobClient, createLogger, encodeTensor, querySubmitted } from "../protocol/index.js";
import type { MoveRecord } from "../protocol/fraud-game-client.js";
import { textLineTensor } from "../examples/text-images.js";
import { GameCheater } from "./fault-injection.js";
import { CLS_MODEL_PATH, CLS_SHAPE, DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor } from "../stack/local-stack.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== "--"), options: { json: { type: "boolean", default: false } } });
  const json = values.json === true;
  const say = (line: string) => (json ? process.stderr.write(line + "\n") : console.log(line));
  const t0 = Date.now();
  const timeline: Array<{ t: number; event: string; detail?: string; gas?: number }> = [];
  const mark = (event: string, detail?: string, gas?: bigint) => {
    const t = Date.now() - t0;
    timeline.push({ t, event, ...(detail === undefined ? {} : { detail }), ...(gas === undefined ? {} : { gas: Number(gas) }) });
    say(`  +${(t / 1000).toFixed(3).padStart(8)} s  ${event}${detail === undefined ? "" : `  ${detail}`}${gas === undefined ? "" : `  (gas ${gas})`}`);
  };

  say("Starting the oracle with the FraudGame (the classifier's canonical terms: commitment from its ONNX file, τ_out calibrated against onnxruntime)...");
  const moves: MoveRecord[] = [];
  const stack = await startLocalStack({
    resolver: "game",
    workers: 0,
    logger: createLogger("oracle", { level: "error" }),
    gameClient: { onMove: (m) => moves.push(m) },
  });
  try {
    const { oracle, dapp, relayer, networkHelpers, ethers } = stack;
    const game = stack.game!;
    const terms = stack.canonicalTerms!;
    const moveClock = Number(await game.moveClock());
    say(`  oracle ${await oracle.getAddress()}, FraudGame ${await game.getAddress()} (response ${await game.responseTime()} s, move clock ${moveClock} s)`);
    say(`  model ${stack.modelHash}: ${terms.stepCount} canonical steps, commitment ${terms.commitment}`);
    const tauOut = Buffer.from(terms.tauOutAbs.toString(16).padStart(16, "0"), "hex").readDoubleBE(0);
    say(`  τ_out ${tauOut} (abs) from the calibration: an honest fast runtime's output lands within it of the canonical one`);
    const cheater = new GameCheater();
    await stack.addWorker({ traceBuilder: cheater, gameResponder: cheater.responder });
    const cheaterSigner = stack.workerSigners[0]!.address;
    const cheaterOperator = await oracle.operatorOf(cheaterSigner);
    say(`  worker A (CHEATING, fault injection) signer ${cheaterSigner}`);
    const challenger = (await ethers.getSigners())[15]!;
    const challengerAddress = await challenger.getAddress();
    const txs: DaemonTransaction[] = [];
    const daemon = new ChallengerDaemon({
      oracleAddress: await oracle.getAddress(),
      runner: challenger,
      blobStoreUrl: relayer.url,
      policy: { maxBondAtRisk: DEFAULT_PARAMS.challengeBond * 4n },
      startBlock: stack.deployBlock,
      fraudGames: {
        models: new Map([[stack.modelHash.toLowerCase(), { bytes: readFileSync(CLS_MODEL_PATH), inputShape: CLS_SHAPE }]]),
        audit: { secret: randomBytes(32), fraction: 1 },
        client: {
          onMove: (m) => moves.push(m),
          // The local chain's clock moves only when told: a challenger waiting out a move clock advances it.
          wait: async (reason) => (reason === "clock" ? void (await networkHelpers.time.increase(moveClock + 1)) : sleep(20)),
        },
      },
      onTransaction: (tx) => {
        txs.push(tx);
        if (tx.label === "challenge") mark("challenge opened (the game opens)", `bond ${formatEther(DEFAULT_PARAMS.challengeBond)} ETH`, tx.gasUsed);
      },
    });
    say(`  challenger ${challengerAddress} (re-runs every result canonically: fraction 1)\n\nTimeline`);
    const stakeBefore = (await oracle.getWorker(cheaterOperator)).stake;

    // The request: an upside-down text line, sent by URI (the worker keeps it in its input cache).
    const text = "Honest workers win";
    const inputBytes = Buffer.from(encodeTensor(textLineTensor(text, { rotated: true })));
    const { hash, uri } = await new BlobClient({ storeUrl: relayer.url }).upload(inputBytes);
    const storedBefore = relayer.blobs.storedBytes();
    const receipt = (await (await dapp.classify(hash, uri, (await networkHelpers.time.latest()) + 3600, { value: REQUEST_FEE })).wait())!;
    const id = String(receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId).toLowerCase();
    mark("request", `"${text}" (upside down, by URI), request ${id.slice(0, 10)}…`, receipt.gasUsed);
    relayer.poke();
    const state = () => relayer.db.getRequest(id)?.state;
    await waitFor(() => state() === "submitted", 120_000, "the cheater's result");
    const badAt = Date.now();
    const [submitted] = await querySubmitted(ethers.provider, await oracle.getAddress(), { requestId: id });
    const submitTx = (await ethers.provider.getTransaction(submitted!.transactionHash!))!;
    // Happy-path trace bytes: nothing but the output joined the blob store, and the signed result names no trace.
    const outputBlob = relayer.blobs.has(submitted!.outputHash) ? (await relayer.blobs.get(submitted!.outputHash)).byteLength : 0;
    const happyTraceBytes = relayer.blobs.storedBytes() - storedBefore - outputBlob;
    mark("bad result on-chain", `worker A signed the probabilities swapped; no trace root (the signed ResultBatch names none), ${happyTraceBytes} trace bytes uploaded, submit calldata ${(submitTx.data.length - 2) / 2} B`);

    // The challenger re-runs it canonically (beyond τ_out), challenges and plays the bisection to a leaf proof.
    const outcome = (await daemon.poll()).get(id);
    const slashedAt = Date.now();
    if (outcome?.kind !== "gamePlayed" || outcome.ruling !== 2) throw new Error(`the challenger did not win the game: ${JSON.stringify(outcome)}`);
    const fault = cheater.faults.find((f) => f.requestId === id)!;
    const attacks = moves.filter((m) => m.role === "challenger" && m.move.startsWith("attack")).length;
    mark("game played", `${outcome.rounds} rounds (${attacks} attacks answered), ${moves.length} moves, ending in ${outcome.outcome} at step ${fault.step} element ${fault.element} (the altered one)`);
    const stakeAfter = (await oracle.getWorker(cheaterOperator)).stake;
    mark("worker A slashed", `${formatEther(stakeBefore - stakeAfter)} ETH (a share burned, the rest to the challenger); ${slashedAt - badAt} ms after the bad result`);
    if ((await oracle.state(id)) === 1n) mark("request reopened", "worker A disqualified for it");

    await stack.addWorker();
    mark("worker B (honest) up", "answers games on its results by default");
    await waitFor(async () => state() === "submitted" && (await oracle.state(id)) === 2n, 120_000, "the honest result");
    const honestOperator = (await oracle.operatorOf(stack.workerSigners[1]!.address)).toLowerCase();
    if (relayer.db.getRequest(id)!.worker!.toLowerCase() !== honestOperator) throw new Error("the honest worker did not serve the reopened request");
    mark("honest result on-chain", "worker B");
    const second = (await daemon.poll()).get(id);
    mark("honest result re-run canonically", `${second?.kind}: within τ_out, no challenge`);

    await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    mark("challenge window passed", `${DEFAULT_PARAMS.challengeWindow} s advanced on the local chain`);
    relayer.poke();
    await waitFor(() => state() === "fulfilled", 120_000, "settlement");
    const c = await dapp.classification(id);
    mark("delivered to the dApp", `${c.rotated180 ? "rotated 180" : "upright"} ${c.rotated180 ? "✓ correct" : "✗ WRONG"}`);
    const withdrawn = await daemon.withdraw();

    // Rounds: each challenger attack and the worker's answer to it.
    const rounds: Array<{ attack: string; gas: number }> = [];
    const gameMoves = moves.map((m) => ({ role: m.role, move: m.move, gas: Number(m.gas), calldataBytes: m.calldataBytes }));
    for (let i = 0; i < gameMoves.length; i++) {
      const m = gameMoves[i]!;
      if (m.role !== "challenger" || !m.move.startsWith("attack")) continue;
      const answer = gameMoves.slice(i + 1).find((a) => a.role === "worker" && a.move.startsWith("answer"));
      rounds.push({ attack: m.move, gas: m.gas + (answer?.gas ?? 0) });
    }
    const totalGas = gameMoves.reduce((a, m) => a + m.gas, 0);
    const summary = {
      model: { hash: stack.modelHash, steps: terms.stepCount, commitment: terms.commitment, tauOutAbs: tauOut },
      requestId: id,
      happyPath: { traceBytes: happyTraceBytes, traceRoot: null, submitCalldataBytes: (submitTx.data.length - 2) / 2 },
      dispute: {
        // Trace bytes only ever sent in the dispute: the calldata of the game's moves (nodes, one tensor header, chunks).
        traceBytes: gameMoves.reduce((a, m) => a + m.calldataBytes, 0),
        workerTraceBytes: gameMoves.filter((m) => m.role === "worker").reduce((a, m) => a + m.calldataBytes, 0),
        rounds: outcome.rounds,
        moves: gameMoves.length,
        outcome: outcome.outcome,
        fault: { step: fault.step, element: fault.element },
        gasPerRound: rounds.map((r) => r.gas),
        maxMoveGas: Math.max(...gameMoves.map((m) => m.gas)),
        totalGas,
        challengeGas: Number(txs.find((t) => t.label === "challenge")?.gasUsed ?? 0),
        moveList: gameMoves,
      },
      badResultToSlashMs: slashedAt - badAt,
      slashedWei: (stakeBefore - stakeAfter).toString(),
      challengerRewardWei: withdrawn.toString(),
      honestAudit: second?.kind,
      delivered: { rotated180: c.rotated180, correct: c.rotated180 === true, byHonestWorker: true },
      timeline,
      totalMs: Date.now() - t0,
    };
    say(
      `\nSummary: happy path ${summary.happyPath.traceBytes} trace bytes; the dispute took ${summary.dispute.rounds} rounds / ${summary.dispute.moves} moves, ${summary.dispute.traceBytes} B of trace in calldata, ${totalGas} gas in all (at most ${summary.dispute.maxMoveGas} per move); bad result → slash ${summary.badResultToSlashMs} ms; slashed ${formatEther(summary.slashedWei)} ETH; dApp answer ${c.rotated180 ? "correct (from the honest worker)" : "WRONG"}.`,
    );
    if (json) console.log(JSON.stringify(summary));
    if (!summary.delivered.correct || summary.honestAudit !== "honest" || summary.happyPath.traceBytes !== 0) {
      process.exitCode = 1;
      say("FAILED: the dApp did not receive the correct answer, or the happy path carried a trace.");
    }
  } finally {
    await stack.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
