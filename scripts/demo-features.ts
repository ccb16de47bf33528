/**
 * `npm run demo:features`: what dApps expect from an oracle (docs/FEATURES.md), each feature end to end on the
 * in-process stack (chain, contracts, relayer, workers, queue, the real PP-OCR classifier): fees in an
 * ERC-20 token, subscriptions, redundancy, chained requests, large outputs, deterministic deployment.
 * Each feature is a module of scripts/features/ that drives the real services and checks on-chain what
 * the dApp received.
 *
 *   npm run demo:features               readable narrative
 *   npm run demo:features -- --json     one JSON object on the last line, a field per feature
 *   npm run demo:features -- --only erc20,chained
 */
import { parseArgs } from "node:util";
import { createLogger, Tier } from "../protocol/index.js";
import { startLocalStack } from "../stack/local-stack.js";
import { FEATURES, FEATURE_NAMES, type FeatureReport } from "./features/index.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: { json: { type: "boolean", default: false }, only: { type: "string" } },
  });
  const json = values.json === true;
  const say = (line: string) => (json ? process.stderr.write(line + "\n") : console.log(line));
  const only = values.only === undefined ? undefined : new Set(values.only.split(",").map((s) => s.trim()));
  const unknown = [...(only ?? [])].filter((n) => !(FEATURE_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--only: unknown feature(s) ${unknown.join(", ")}; known: ${FEATURE_NAMES.join(", ")}`);

  say("Starting the oracle: in-process chain, contracts, relayer, 3 workers, in-process queue...");
  const stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("oracle", { level: "error" }) });
  const report: Record<string, FeatureReport> = {};
  try {
    for (const name of FEATURE_NAMES) {
      if (only !== undefined && !only.has(name)) continue;
      const feature = FEATURES.find((f) => f.name === name);
      if (feature === undefined) {
        report[name] = { delivered: false, reason: "not built yet (issue 18)" };
        continue;
      }
      say(`\n${feature.title}`);
      const t0 = Date.now();
      try {
        report[name] = { ...(await feature.run(stack, say)), ms: Date.now() - t0 };
      } catch (error) {
        report[name] = { delivered: false, error: error instanceof Error ? error.message : String(error), ms: Date.now() - t0 };
      }
      say(`  -> ${report[name]!.delivered ? "delivered" : "NOT delivered"}`);
    }
  } finally {
    await stack.close();
  }
  if (json) console.log(JSON.stringify(report));
  const built = Object.entries(report).filter(([, r]) => r.reason === undefined);
  if (built.some(([, r]) => !r.delivered)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
