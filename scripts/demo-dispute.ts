/**
 * `npm run demo:dispute`: a dispute end to end on the in-process stack (docs/OPTIMISTIC.md "One-step
 * fraud proofs"). The PP-OCR classifier is registered with the FraudProofResolver (commitment root
 * and trace count); workers publish full traces to the relayer's blob store.
 *
 * A FAULTY worker (scripts/fault-injection.ts: fault injection for demos and tests only) alters one
 * element of one intermediate trace tensor and swaps the two probabilities it signs: the wrong
 * answer. It is the only worker up when the dApp asks. The challenger daemon audits the result,
 * challenges it and proves the fraud with a one-step proof; the worker is slashed and the request
 * reopens; the honest worker (started then) serves it; after the challenge window (advanced on the
 * local chain) it settles and the dApp receives the correct answer.
 *
 *   npm run demo:dispute              the timeline
 *   npm run demo:dispute -- --json    the same, with a JSON summary on the last line
 */
import { parseArgs } from "node:util";
import { formatEther } from "ethers";
import { ChallengerDaemon, type DaemonTransaction } from "../challenger/daemon.js";
import { createLogger, encodeTensor, type Hex } from "../protocol/index.js";
import { textLineTensor } from "../examples/text-images.js";
import { FaultyTraceBuilder } from "./fault-injection.js";
import { DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor } from "./local-stack.js";

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

  say("Starting the oracle with the FraudProofResolver (the classifier's commitment is computed from its ONNX file)...");
  const stack = await startLocalStack({ resolver: "fraud", workers: 0, worker: { trace: "full" }, logger: createLogger("oracle", { level: "error" }) });
  try {
    const { oracle, dapp, relayer, networkHelpers, ethers } = stack;
    const commitment = stack.commitment!;
    say(`  oracle ${await oracle.getAddress()}, FraudProofResolver ${await stack.fraudResolver!.getAddress()}`);
    say(`  model ${stack.modelHash}: ${commitment.operators.length} operators, ${commitment.traceTypes.length} trace tensors, commitment root ${commitment.root}`);
    const faulty = new FaultyTraceBuilder({ blobStoreUrl: relayer.url, fault: { corruptOutput: true } });
    await stack.addWorker({ traceBuilder: faulty });
    const faultySigner = stack.workerSigners[0]!.address;
    const faultyOperator = await oracle.operatorOf(faultySigner);
    say(`  worker A (FAULTY, fault injection) signer ${faultySigner}`);
    const challenger = (await ethers.getSigners())[15]!;
    const challengerAddress = await challenger.getAddress();
    const txs: DaemonTransaction[] = [];
    const daemon = new ChallengerDaemon({
      oracleAddress: await oracle.getAddress(),
      runner: challenger,
      blobStoreUrl: relayer.url,
      models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
      policy: { fraction: 1, maxBondAtRisk: DEFAULT_PARAMS.challengeBond * 4n, seed: 1 },
      startBlock: stack.deployBlock,
      onTransaction: (tx) => {
        txs.push(tx);
        if (tx.label === "challenge") mark("challenge opened", `bond ${formatEther(DEFAULT_PARAMS.challengeBond)} ETH`, tx.gasUsed);
        else mark(`${tx.label} mined`, undefined, tx.gasUsed);
      },
    });
    say(`  challenger ${challengerAddress} (audits every result: fraction 1)\n\nTimeline`);
    const stakeBefore = (await oracle.getWorker(faultyOperator)).stake;
    const challengerBefore = await ethers.provider.getBalance(challengerAddress);

    // The request: an upside-down text line.
    const text = "Honest workers win";
    const res = await fetch(`${relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.from(encodeTensor(textLineTensor(text, { rotated: true }))) });
    const { hash, uri } = (await res.json()) as { hash: Hex; uri: string };
    const receipt = (await (await dapp.classify(hash, uri, (await networkHelpers.time.latest()) + 3600, { value: REQUEST_FEE })).wait())!;
    const id = String(receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId).toLowerCase();
    mark("request", `"${text}" (upside down), request ${id.slice(0, 10)}…`, receipt.gasUsed);
    relayer.poke();
    const state = () => relayer.db.getRequest(id)?.state;
    await waitFor(() => state() === "submitted", 120_000, "the faulty result");
    const bad = faulty.faults[0]!;
    mark("bad result on-chain", `worker A altered trace tensor ${bad.traceIndex} element ${bad.element} and signed probabilities swapped`);

    // The challenger audits it: challenge + one-step proof.
    const auditStart = Date.now();
    const outcome = (await daemon.poll()).get(id);
    const auditMs = Date.now() - auditStart;
    if (outcome?.kind !== "fraudProven" || !outcome.workerAtFault) throw new Error(`the challenger did not prove the fraud: ${JSON.stringify(outcome)}`);
    const op = commitment.operators[outcome.opIndex]!;
    const proof = txs.find((t) => t.label === "proveFraud")!;
    const proofReceipt = (await ethers.provider.getTransactionReceipt(proof.hash))!;
    const logs = proofReceipt.logs.map((l) => { try { return oracle.interface.parseLog(l); } catch { return null; } });
    const slash = logs.find((e) => e?.name === "WorkerSlashed")!;
    mark("fraud proven", `operator #${outcome.opIndex} (${op.opType}) element ${outcome.element}; audit + challenge + proof took ${auditMs} ms`);
    const resolved = logs.find((e) => e?.name === "DisputeResolved")!;
    mark("worker A slashed", `${formatEther(slash.args.amount)} ETH: ${formatEther(resolved.args.burned)} ETH burned, the rest shared by the challengers (claimDispute)`);
    if (logs.some((e) => e?.name === "RequestReopened")) mark("request reopened", "worker A disqualified for it");
    const stakeAfter = (await oracle.getWorker(faultyOperator)).stake;

    await stack.addWorker();
    mark("worker B (honest) up");
    await waitFor(async () => state() === "submitted" && (await oracle.state(id)) === 2n, 120_000, "the honest result");
    const honestOperator = (await oracle.operatorOf(stack.workerSigners[1]!.address)).toLowerCase();
    if (relayer.db.getRequest(id)!.worker!.toLowerCase() !== honestOperator) throw new Error("the honest worker did not serve the reopened request");
    mark("honest result on-chain", "worker B");
    const second = (await daemon.poll()).get(id);
    mark("honest result audited", `${second?.kind}${second?.kind === "honest" ? `, ${second.checkedElements} elements checked` : ""}: no challenge`);

    await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    mark("challenge window passed", `${DEFAULT_PARAMS.challengeWindow} s advanced on the local chain`);
    relayer.poke();
    await waitFor(() => state() === "fulfilled", 120_000, "settlement");
    const settle = relayer.transactions.filter((t) => t.label === "settleMany").at(-1);
    mark("settled", undefined, settle?.gasUsed);
    const c = await dapp.classification(id);
    mark("delivered to the dApp", `${c.rotated180 ? "rotated 180" : "upright"} ${c.rotated180 ? "✓ correct" : "✗ WRONG"}`);
    const withdrawn = await daemon.withdraw();
    const challengerAfter = await ethers.provider.getBalance(challengerAddress);

    const summary = {
      model: { hash: stack.modelHash, operators: commitment.operators.length, traceTensors: commitment.traceTypes.length },
      requestId: id,
      fault: { traceIndex: bad.traceIndex, element: bad.element, operator: outcome.opIndex, opType: op.opType },
      gas: {
        challenge: Number(txs.find((t) => t.label === "challenge")!.gasUsed),
        proveFraud: Number(proof.gasUsed),
        claimDispute: Number(txs.find((t) => t.label === "claimDispute")?.gasUsed ?? 0),
      },
      slashedWei: (stakeBefore - stakeAfter).toString(),
      challengerRewardWei: withdrawn.toString(),
      challengerNetWei: (challengerAfter - challengerBefore).toString(),
      auditAndProofMs: auditMs,
      honestAudit: second?.kind,
      delivered: { rotated180: c.rotated180, correct: c.rotated180 === true },
      timeline,
      totalMs: Date.now() - t0,
    };
    say(`\nSummary: slashed ${formatEther(summary.slashedWei)} ETH, challenger withdrew ${formatEther(summary.challengerRewardWei)} ETH (${formatEther(summary.challengerNetWei)} ETH net of gas), proof gas ${summary.gas.proveFraud}; dApp answer ${c.rotated180 ? "correct" : "WRONG"}.`);
    if (json) console.log(JSON.stringify(summary));
    if (!summary.delivered.correct || summary.honestAudit !== "honest") {
      process.exitCode = 1;
      say("FAILED: the dApp did not receive the correct answer.");
    }
  } finally {
    await stack.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
