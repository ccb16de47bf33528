/**
 * The core section of `npm run bench` (bench/gas.ts): a request, OPTIMISTIC results single and batched (the
 * batch of 32 itemized from its opcode trace), a challenge with a joiner, the arbiter's ruling and a claim, the
 * settlements single and batched, and the NONE tier's result + settlement in one transaction.
 */
import { Ruling, Tier, packBatch } from "../protocol/index.js";
import { DEFAULT_PARAMS } from "../stack/local-stack.js";
import { RITUAL_DELIVERY_OVERHEAD, type GasContext, type GasSection } from "./gas-context.js";

export const coreSection: GasSection = {
  name: "core",
  async run(ctx: GasContext): Promise<void> {
    const { oracle, resolver, networkHelpers, outputHex, add, keepProofs, named } = ctx;
    const { relayer, user, arbiter } = ctx.accounts;
    // Requests.
    const first = await ctx.request(Tier.OPTIMISTIC);
    add("request (dApp classify -> requestInference, URI input)", first.gas, 1, "fee escrow, request record, event");

    // Results, OPTIMISTIC, single and batched; then their settlement.
    // Every OPTIMISTIC result is named later by its record and the Merkle proof of its leaf, rebuilt
    // from the submitting transaction's logs exactly as the relayer's settler does (protocol/batch.ts).
    const single = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([first], false)))).wait())!;
    add("result, single submitBatch x1 (OPTIMISTIC), first", single.gasUsed, 1, "signature check, bond lock, root = leaf");
    keepProofs(single, [first.id]);
    const submitted: { id: string }[] = [first];
    for (const batch of [1, 8, 32, 128]) {
      const reqs = [];
      for (let i = 0; i < batch; i++) reqs.push(await ctx.request(Tier.OPTIMISTIC));
      const tx = await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf(reqs, false)));
      const receipt = (await tx.wait())!;
      add(`result, submitBatch x${batch} (OPTIMISTIC)`, receipt.gasUsed, batch, batch === 32 ? "one signature, one accepted root per batch" : "");
      if (batch === 32) ({ breakdown: ctx.breakdown, otherExecutionByOpcode: ctx.otherByOpcode } = await itemize(ctx.ethers.provider, tx.hash, tx.data, receipt.gasUsed, batch));
      keepProofs(receipt, reqs.map((r) => r.id));
      submitted.push(...reqs);
    }
    const silent = [];
    for (let i = 0; i < 32; i++) silent.push(await ctx.request(Tier.OPTIMISTIC, ctx.silentDapp));
    const silentSubmit = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf(silent, false)))).wait())!;
    keepProofs(silentSubmit, silent.map((r) => r.id));
    // One silent result submitted alone, for the single settlement without callback.
    const silentOne = await ctx.request(Tier.OPTIMISTIC, ctx.silentDapp);
    keepProofs((await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([silentOne], false)))).wait())!, [silentOne.id]);
    // One more batch of 32, kept for the challenge figure (challenged inside the window).
    const disputed = [];
    for (let i = 0; i < 32; i++) disputed.push(await ctx.request(Tier.OPTIMISTIC, ctx.silentDapp));
    const disputedSubmit = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf(disputed, false)))).wait())!;
    keepProofs(disputedSubmit, disputed.map((r) => r.id));
    const disputedId = disputed[5]!.id;
    const challengeReceipt = (await (await oracle.connect(user).challenge(disputedId, named(disputedId).record, named(disputedId).proof, { value: DEFAULT_PARAMS.challengeBond })).wait())!;
    add("challenge (proof of a leaf in a batch of 32)", challengeReceipt.gasUsed, 1, "bond escrow, resolver hook, dispute record");
    // Open disputes (docs/OPTIMISTIC.md, "Open disputes and who gets what"): a second challenger joins,
    // the arbiter rules WorkerFault, one joiner claims its share.
    const joinReceipt = (await (await oracle.connect(relayer).challenge(disputedId, named(disputedId).record, named(disputedId).proof, { value: DEFAULT_PARAMS.challengeBond })).wait())!;
    add("join an open dispute (same leaf proof)", joinReceipt.gasUsed, 1, "bond escrow, joiner flag; no deadline moves");
    const ruleReceipt = (await (await resolver.connect(arbiter).rule(disputedId, Ruling.WorkerFault)).wait())!;
    add("ruling WorkerFault, 2 joiners (ArbiterResolver)", ruleReceipt.gasUsed, 1, "slash, burn, one share for every joiner, reopen: O(1) in joiners");
    const claimReceipt = (await (await oracle.connect(user).claimDispute(disputedId, 0)).wait())!;
    add("claimDispute (one joiner's share)", claimReceipt.gasUsed, 1, "credited to the pull balance");
    await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    const settleOne = (await (await oracle.connect(relayer).settle({ requestId: submitted[0]!.id, ...named(submitted[0]!.id), output: outputHex })).wait())!;
    add("settlement, single settle (payments + callback)", settleOne.gasUsed, 1, "callback decodes the output");
    const settleSilent = (await (await oracle.connect(relayer).settle({ requestId: silentOne.id, ...named(silentOne.id), output: "0x" })).wait())!;
    add("settlement, single settle, no callback", settleSilent.gasUsed, 1, "payments, bond release, root = leaf");
    let cursor = 1;
    for (const batch of [8, 32]) {
      const slice = submitted.slice(cursor, cursor + batch);
      cursor += batch;
      const settlements = slice.map((r) => ({ requestId: r.id, ...named(r.id), output: outputHex }));
      const receipt = (await (await oracle.connect(relayer).settleMany(settlements)).wait())!;
      add(`settlement, batched settleMany x${batch}`, receipt.gasUsed, batch);
    }

    const silentSettlements = silent.map((r) => ({ requestId: r.id, ...named(r.id), output: "0x" }));
    const silentReceipt = (await (await oracle.connect(relayer).settleMany(silentSettlements)).wait())!;
    add("settlement, batched settleMany x32, no callback", silentReceipt.gasUsed, 32, "the oracle's own cost: payments, bond release, proof");

    // NONE tier: result and settlement in one transaction.
    const none = await ctx.request(Tier.NONE);
    const noneReceipt = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([none], true)))).wait())!;
    add("result + settlement, single (NONE tier, same tx)", noneReceipt.gasUsed, 1, "incl. callback");
    const noneBatch = [];
    for (let i = 0; i < 32; i++) noneBatch.push(await ctx.request(Tier.NONE));
    const noneBatchReceipt = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf(noneBatch, true)))).wait())!;
    add("result + settlement, batched x32 (NONE tier)", noneBatchReceipt.gasUsed, 32, "incl. callback");

    const delivery32 = ctx.byStep("result, submitBatch x32") + ctx.byStep("settlement, batched settleMany x32");
    const overhead32 = ctx.byStep("result, submitBatch x32") + ctx.byStep("settlement, batched settleMany x32, no callback");
    ctx.anchors.optimisticResultPlusSettlementAt32 = delivery32;
    ctx.anchors.optimisticOracleOverheadAt32 = overhead32;
    ctx.anchors.noneTierDeliveryAt32 = ctx.byStep("result + settlement, batched x32");
    ctx.lines.push(
      `\nOPTIMISTIC result + settlement at batch 32: ${delivery32} gas per request, incl. a real callback`,
      `OPTIMISTIC oracle overhead (no callback) at batch 32: ${overhead32} gas per request (${(overhead32 / RITUAL_DELIVERY_OVERHEAD).toFixed(2)}x Ritual Infernet's ${RITUAL_DELIVERY_OVERHEAD})`,
    );
    const single1 = ctx.byStep("result, submitBatch x1 ");
    for (const n of [8, 32, 128]) {
      const g = ctx.byStep(`result, submitBatch x${n} `);
      ctx.lines.push(`OPTIMISTIC result at batch ${n}: ${g} gas, ${(single1 / g).toFixed(2)}x cheaper than a batch of one (${single1}) in this run`);
    }
    ctx.lines.push(`NONE tier, result + settlement at batch 32: ${ctx.anchors.noneTierDeliveryAt32} gas per request, incl. a real callback`);
  },
};

/**
 * Itemizes one submitBatch transaction per result from its opcode trace: every opcode's own cost,
 * and for calls the gas actually spent across the call (the trace lists the gas handed over).
 */
async function itemize(provider: { send(method: string, params: unknown[]): Promise<any> }, hash: string, data: string, gasUsed: bigint, n: number) {
  const trace = await provider.send("debug_traceTransaction", [hash, { disableStorage: true, disableMemory: true, disableStack: true }]);
  const logs: { op: string; gas: number; gasCost: number; depth: number }[] = trace.structLogs;
  const sums: Record<string, number> = {};
  const bump = (k: string, v: number) => (sums[k] = (sums[k] ?? 0) + v);
  // What "other execution" is made of: gas per opcode (the ABI decoding, memory and control flow).
  const otherOps: Record<string, number> = {};
  let otherCount = 0;
  for (let i = 0; i < logs.length; i++) {
    const l = logs[i]!;
    let cost = l.gasCost;
    if (l.op === "STATICCALL" || l.op === "CALL") {
      const next = logs.slice(i + 1).find((x) => x.depth === l.depth);
      if (next !== undefined) cost = l.gas - next.gas;
    }
    const kind =
      l.op === "SLOAD" ? "storage reads (1 cold request slot + warm lookups)"
      : l.op === "SSTORE" ? "storage writes (request slot 3, bond lock / n, accepted root / n)"
      : l.op.startsWith("LOG") ? "events (ResultBatchSubmitted: a 71-byte record per result, the rest / n)"
      : l.op === "STATICCALL" ? "ecrecover precompile call (once per batch, / n)"
      : l.op === "KECCAK256" ? "keccak (digests, leaf, tree nodes, mapping keys)"
      : "other execution (packed decoding, checks, control flow, memory)";
    bump(kind, cost);
    if (kind.startsWith("other")) {
      otherOps[l.op] = (otherOps[l.op] ?? 0) + cost;
      otherCount++;
    }
  }
  const bytes = Buffer.from(data.slice(2), "hex");
  const nonzero = bytes.reduce((a, b) => a + (b === 0 ? 0 : 1), 0);
  const calldata = nonzero * 16 + (bytes.length - nonzero) * 4;
  const out: Record<string, number> = {
    "transaction base cost (21,000 / n)": Math.round(21_000 / n),
    "calldata (one packed item: 70 bytes; the signature / n)": Math.round(calldata / n),
  };
  for (const [k, v] of Object.entries(sums)) out[k] = Math.round(v / n);
  const traced = Object.values(out).reduce((a, b) => a + b, 0);
  out["refunds and rounding (receipt minus the items above)"] = Math.round(Number(gasUsed) / n) - traced;
  out["total per result"] = Math.round(Number(gasUsed) / n);
  const top = Object.entries(otherOps).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const byOpcode = Object.fromEntries(top.map(([op, g]) => [op, Math.round(g / n)]));
  return { breakdown: out, otherExecutionByOpcode: { "opcodes executed": Math.round(otherCount / n), ...byOpcode } };
}
