/**
 * What a dispute costs (docs/OPTIMISTIC.md "Dispute numbers"), on the PP-OCR text-direction
 * classifier and the in-process stack; `npm run bench:dispute`, JSON to bench/results/dispute.json.
 *
 *  1. Trace overhead: a full trace run (every operator output exposed, hashed, encoded: the bytes a
 *     worker publishes) against plain inference of the same model on the same input (baseline),
 *     both onnxruntime-node CPU, one intra-op thread; median of 7.
 *  2. Challenger speed: checkTrace at fraction 1 and 0.05 (operators and elements checked per
 *     second) against a full re-run of the model with onnxruntime (the baseline); median of 3.
 *  3. Disputes on the stack: a faulty worker (scripts/fault-injection.ts, bench only) alters one
 *     element of the first operator of each kind of the classifier; the challenger daemon
 *     (fraction 1, polling every 100 ms) proves each. Per operator kind: the gas of the whole
 *     proveFraud transaction and of the challenge; the time from the bad result on-chain (the
 *     relayer's submit mined) to the slash (proveFraud mined). Median and worst case (also the
 *     widest Conv, op 179, the most expensive proof of bench/fraud.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { checkTrace } from "../challenger/checker.js";
import { ChallengerDaemon, type DaemonTransaction } from "../challenger/daemon.js";
import { encodeTensor, numel, type Tensor } from "../protocol/tensor.js";
import { commitModel } from "../protocol/commitment.js";
import { createLogger, type Hex } from "../protocol/index.js";
import { textLineTensor } from "../examples/text-images.js";
import { TraceSession } from "../worker/trace.js";
import { toOrtTensor } from "../worker/runner.js";
import { FaultyTraceBuilder } from "../scripts/fault-injection.js";
import { CLS_MODEL_PATH, DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor } from "../scripts/local-stack.js";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]! ) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
async function timed<T>(n: number, f: () => Promise<T> | T): Promise<{ ms: number; last: T }> {
  const times: number[] = [];
  let last!: T;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    last = await f();
    times.push(performance.now() - t);
  }
  return { ms: median(times), last };
}

const modelBytes = readFileSync(CLS_MODEL_PATH);
const input: Tensor = textLineTensor("Honest workers win", { rotated: true });
const commitment = await commitModel(modelBytes, { inputShape: [1, 3, 48, 192] });

// 1. Trace overhead.
const plainSession = await ort.InferenceSession.create(modelBytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
const plain = await timed(7, () => plainSession.run({ [plainSession.inputNames[0]!]: toOrtTensor(input) }));
const traceSession = await TraceSession.open(modelBytes, { threaded: false, intraOpNumThreads: 1 });
const traced = await timed(7, () => traceSession.run(input));
const tensors = traced.last.tensors;
const encode = await timed(7, () => tensors.reduce((n, t) => n + encodeTensor(t).byteLength, 0) + encodeTensor(traced.last.manifest).byteLength);
const traceBytes = encode.last;
const inputBytes = encodeTensor(input).byteLength;
const overhead = {
  plainInferenceMs: r2(plain.ms),
  traceRunAndHashMs: r2(traced.ms),
  traceRunMs: r2(median([traced.last.timings.run])),
  traceHashMs: r2(traced.last.timings.hash),
  encodeMs: r2(encode.ms),
  ratioToPlain: r2((traced.ms + encode.ms) / plain.ms),
  tensors: tensors.length,
  traceBytes,
  inputBytes,
  bytesRatioToInput: r2(traceBytes / inputBytes),
};
await traceSession.release();

// 2. Challenger speed.
const check = async (fraction: number) => {
  const { ms, last } = await timed(3, () => checkTrace(commitment, { input, tensors }, { fraction, seed: 1 }));
  if (!last.ok) throw new Error(`the honest trace failed the check at fraction ${fraction}`);
  return { fraction, ms: r2(ms), operators: last.checkedOperators, elements: last.checkedElements, operatorsPerSecond: Math.round(last.checkedOperators / (ms / 1000)), elementsPerSecond: Math.round(last.checkedElements / (ms / 1000)), ratioToReRun: r2(ms / plain.ms) };
};
const checker = { reRunMs: r2(plain.ms), full: await check(1), sampled: await check(0.05) };
await plainSession.release();

// 3. Disputes on the stack, one per operator kind.
const stack = await startLocalStack({ resolver: "fraud", commitment, workers: 0, worker: { trace: "full" }, logger: createLogger("oracle", { level: "error" }) });
const disputes: Array<{ opType: string; opIndex: number; challengeGas: number; proveFraudGas: number; badResultToSlashMs: number }> = [];
try {
  const faulty = new FaultyTraceBuilder({ blobStoreUrl: stack.relayer.url });
  await stack.addWorker({ traceBuilder: faulty });
  const txs: DaemonTransaction[] = [];
  const daemon = new ChallengerDaemon({
    oracleAddress: await stack.oracle.getAddress(),
    runner: (await stack.ethers.getSigners())[15]!,
    blobStoreUrl: stack.relayer.url,
    models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
    policy: { fraction: 1, maxBondAtRisk: DEFAULT_PARAMS.challengeBond * 4n },
    startBlock: stack.deployBlock,
    onTransaction: (tx) => txs.push(tx),
  });
  let polling = true;
  const loop = (async () => {
    while (polling) {
      for (const [id, o] of await daemon.poll()) if (o.kind !== "fraudProven") process.stderr.write(`  audit ${id.slice(0, 10)}: ${JSON.stringify(o)}\n`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const kinds = new Map<string, (typeof commitment.operators)[number]>();
  for (const op of commitment.operators) {
    const out = op.outputs[0]!;
    if (commitment.traceTypes[out.trace]!.dtype !== "float32" || kinds.has(op.opType)) continue;
    kinds.set(op.opType, op);
  }
  // The worst case of bench/fraud.ts: the 1x1 Conv over 200 channels (op 179), the proof with the most chunks.
  const widest = commitment.operators[179];
  if (widest?.opType === "Conv") kinds.set("Conv (op 179, widest)", widest);
  const res = await fetch(`${stack.relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.from(encodeTensor(input)) });
  const { hash, uri } = (await res.json()) as { hash: Hex; uri: string };
  for (const [opType, op] of kinds) {
    const trace = op.outputs[0]!.trace;
    faulty.fault = { traceIndex: trace, element: Math.min(7, numel(commitment.traceTypes[trace]!.shape) - 1) };
    const receipt = (await (await stack.dapp.classify(hash, uri, (await stack.networkHelpers.time.latest()) + 3600, { value: REQUEST_FEE })).wait())!;
    const id = String(receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId).toLowerCase();
    stack.relayer.poke();
    try {
      await waitFor(() => txs.some((t) => t.label === "proveFraud" && t.requestId?.toLowerCase() === id), 30_000, `the ${opType} fault proven`);
    } catch (error) {
      process.stderr.write(`  ${opType}: ${(error as Error).message} (relayer: ${stack.relayer.db.getRequest(id)?.state}, faults injected ${faulty.faults.length})\n`);
      continue;
    }
    const proof = txs.find((t) => t.label === "proveFraud" && t.requestId?.toLowerCase() === id)!;
    const challenge = txs.find((t) => t.label === "challenge" && t.requestId?.toLowerCase() === id)!;
    const submittedAt = stack.relayer.db.getRequest(id)!.submittedAt ?? Number.NaN;
    disputes.push({ opType, opIndex: op.index, challengeGas: Number(challenge.gasUsed), proveFraudGas: Number(proof.gasUsed), badResultToSlashMs: proof.at - submittedAt });
    process.stderr.write(`  ${opType.padEnd(20)} op #${String(op.index).padStart(3)}  proveFraud gas ${proof.gasUsed}  bad result -> slash ${proof.at - submittedAt} ms\n`);
  }
  polling = false;
  await loop;
} finally {
  await stack.close();
}

const worst = disputes.reduce((a, b) => (b.proveFraudGas > a.proveFraudGas ? b : a));
const result = {
  date: new Date().toISOString(),
  model: { name: "PP-OCR text-direction classifier (ch_ppocr_mobile_v2.0_cls)", hash: commitment.modelHash, operators: commitment.operators.length },
  traceOverhead: overhead,
  checker,
  disputes: {
    perOperatorKind: disputes,
    badResultToSlashMs: { median: median(disputes.map((d) => d.badResultToSlashMs)), max: Math.max(...disputes.map((d) => d.badResultToSlashMs)), runs: disputes.length },
    proveFraudGas: { median: median(disputes.map((d) => d.proveFraudGas)), worst: { opType: worst.opType, gas: worst.proveFraudGas } },
    challengeGas: median(disputes.map((d) => d.challengeGas)),
  },
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/dispute.json", JSON.stringify(result, null, 2) + "\n");
console.log(`trace overhead: plain ${overhead.plainInferenceMs} ms, trace run+hash ${overhead.traceRunAndHashMs} ms + encode ${overhead.encodeMs} ms (${overhead.ratioToPlain}x), ${overhead.tensors} tensors, ${overhead.traceBytes} bytes (${overhead.bytesRatioToInput}x the input)`);
for (const c of [checker.full, checker.sampled]) console.log(`checkTrace fraction ${c.fraction}: ${c.ms} ms (${c.ratioToReRun}x a re-run of ${checker.reRunMs} ms), ${c.operatorsPerSecond} ops/s, ${c.elementsPerSecond} elements/s`);
console.log(`bad result -> slash: median ${result.disputes.badResultToSlashMs.median} ms over ${disputes.length} disputes; proveFraud gas median ${result.disputes.proveFraudGas.median}, worst ${worst.proveFraudGas} (${worst.opType}); challenge gas ${result.disputes.challengeGas}`);
console.log("wrote bench/results/dispute.json");
process.exit(0);
