/**
 * `npm run bench`: on-chain cost of each step of a request, on the in-process EVM, through the
 * real contracts and the example dApp (a real consumer with a 200k-gas callback), with results
 * signed by a real worker key. Gas is deterministic for a given state (up to a few dozen gas from the signature bytes of the
 * fresh worker key), so each figure is one
 * measured transaction (per-item figures divide a batch's gas by its size). Compared with published
 * anchors: Ritual Infernet's 56.6k gas overhead per delivery and Chainlink Functions' 300k default
 * callback gas limit. Prints a table and writes bench/results/gas.json.
 *
 * The benchmark is a list of sections run in order on one chain (bench/gas-context.ts): to measure a new
 * feature, write a GasSection (its rows, anchors, summary and report lines) and add it to SECTIONS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { CHAINLINK_FUNCTIONS_CALLBACK_LIMIT, RITUAL_DELIVERY_OVERHEAD, createGasContext, type GasSection } from "./gas-context.js";
import { coreSection } from "./gas-core.js";
import { chainedSection, erc20Section, largeOutputSection, redundancySection, subscriptionsSection } from "./gas-features.js";

const SECTIONS: GasSection[] = [coreSection, subscriptionsSection, chainedSection, largeOutputSection, redundancySection, erc20Section];

async function main(): Promise<void> {
  const ctx = await createGasContext();
  for (const section of SECTIONS) await section.run(ctx);
  const { rows, breakdown, otherByOpcode } = ctx;
  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, Node ${process.version}, in-process EVM (Hardhat EDR)`,
    rows,
    anchors: ctx.anchors,
    ...ctx.summaries,
    optimisticResultBreakdownAt32: breakdown,
    otherExecutionByOpcodeAt32: otherByOpcode,
  };

  const width = Math.max(...rows.map((r) => r.step.length));
  console.log(`${"step".padEnd(width)}  gas per item`);
  for (const r of rows) console.log(`${r.step.padEnd(width)}  ${String(r.gasPerItem).padStart(8)}${r.note ? `  (${r.note})` : ""}`);
  for (const line of ctx.lines) console.log(line);
  console.log("\nwhere one OPTIMISTIC result's gas goes at batch 32 (traced opcode costs / 32):");
  for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(58)} ${String(v).padStart(6)}`);
  console.log("  other execution by opcode (top 8, per result): " + Object.entries(otherByOpcode).map(([op, g]) => `${op} ${g}`).join(", "));
  console.log(`anchors: Ritual Infernet ${RITUAL_DELIVERY_OVERHEAD} gas overhead per delivery; Chainlink Functions callback limit ${CHAINLINK_FUNCTIONS_CALLBACK_LIMIT}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/gas.json", JSON.stringify(summary, null, 2) + "\n");
  console.log("\nwritten: bench/results/gas.json");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
