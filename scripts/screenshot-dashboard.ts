/**
 * Starts the real local stack, sends a mix of requests (settled, one won by the worker after a
 * dispute, one under dispute, open results, a refunded one), opens the relayer's dashboard in
 * headless Chromium (Debian's, via scripts/chromium.sh) and saves a screenshot:
 *
 *   npm run build && tsx scripts/screenshot-dashboard.ts [docs/img/dashboard.png]
 *   npm run build && tsx scripts/screenshot-dashboard.ts --features [docs/img/dashboard-features.png]
 *
 * With --features it runs the dApp features (docs/FEATURES.md) instead (scripts/features/: a token-paid request, a redundant
 * job, a chain, large outputs) on a stack with three workers, and the screenshot shows their panels: fee
 * tokens, redundant jobs, large outputs (fetched and verified) and the chain with its steps.
 *
 * The helpers are shared with test/dashboard/dashboard.test.ts.
 */
import { openChallenge } from "../challenger/index.js";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { BlobClient, createLogger, encodeTensor, Tier, type Hex } from "../protocol/index.js";
import { textLineTensor } from "../examples/text-images.js";
import { DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor, type LocalStack } from "../stack/local-stack.js";
import { chained } from "./features/chained.js";
import { erc20 } from "./features/erc20.js";
import { largeOutput } from "./features/largeOutput.js";
import { redundancy } from "./features/redundancy.js";
import type { FeatureReport } from "./features/types.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The Chromium executable: installed from Debian by scripts/chromium.sh when missing. */
export function chromiumPath(): string {
  return execFileSync(join(ROOT, "scripts", "chromium.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
  });
}

async function upload(stack: LocalStack, bytes: Uint8Array): Promise<{ hash: Hex; uri: string }> {
  return new BlobClient({ storeUrl: stack.relayer.url }).upload(bytes);
}

/** Sends one classification request through the example dApp; returns its id (lowercase). */
export async function sendRequest(stack: LocalStack, bytes: Uint8Array): Promise<string> {
  const input = await upload(stack, bytes);
  const deadline = (await stack.networkHelpers.time.latest()) + 3600;
  const receipt = (await (await stack.dapp.classify(input.hash, input.uri, deadline, { value: REQUEST_FEE })).wait())!;
  for (const log of receipt.logs) {
    const parsed = stack.oracle.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") return String(parsed.args.requestId).toLowerCase();
  }
  throw new Error("no InferenceRequested event");
}

export const textRequest = (text: string, rotated: boolean) => encodeTensor(textLineTensor(text, { rotated }));

const state = (stack: LocalStack, id: string) => stack.relayer.db.getRequest(id)?.state;

async function challenge(stack: LocalStack, id: string): Promise<void> {
  const row = stack.relayer.db.getRequest(id)!;
  const submitted = (await stack.ethers.provider.getTransactionReceipt(row.submitTx!))!;
  await (await openChallenge(stack.oracle.connect(stack.accounts.user) as never, await stack.oracle.getAddress(), id, submitted.logs, DEFAULT_PARAMS.challengeBond)).wait();
  stack.relayer.poke();
  await waitFor(() => state(stack, id) === "challenged", 30_000, "the challenge");
}

export interface Populated {
  /** Settled; the first was challenged and the worker won the dispute. */
  fulfilled: string[];
  /** Result on-chain, challenge window open. */
  submitted: string[];
  /** Under an open dispute. */
  challenged: string[];
  /** Refunded at once on the worker's signed rejection (wrong input shape). */
  refunded: string[];
}

/** Drives the stack through every request state the dashboard shows. */
export async function populate(stack: LocalStack): Promise<Populated> {
  const first: string[] = [];
  for (const [text, rotated] of [["Hello oracle", false], ["Upside down", true], ["Verifiable inference", false]] as const) {
    first.push(await sendRequest(stack, textRequest(text, rotated)));
  }
  stack.relayer.poke();
  await waitFor(() => first.every((id) => state(stack, id) === "submitted"), 60_000, "the first results");
  await challenge(stack, first[0]!);
  await (await stack.resolver.connect(stack.accounts.arbiter).rule(first[0]!, 1 /* Ruling.WorkerRight */)).wait();
  stack.relayer.poke();
  await waitFor(() => state(stack, first[0]!) === "submitted", 30_000, "the ruling");
  await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
  stack.relayer.poke();
  await waitFor(() => first.every((id) => state(stack, id) === "fulfilled"), 60_000, "settlement");

  const later: string[] = [];
  for (const [text, rotated] of [["Another flipped line", true], ["Oracle dashboard", false]] as const) {
    later.push(await sendRequest(stack, textRequest(text, rotated)));
  }
  const refunded = await sendRequest(stack, encodeTensor({ dtype: "float32", shape: [1, 3, 32, 100], data: new Float32Array(3 * 32 * 100).fill(0.5) }));
  stack.relayer.poke();
  await waitFor(() => later.every((id) => state(stack, id) === "submitted") && state(stack, refunded) === "refunded", 60_000, "later results and the refund");
  await challenge(stack, later[0]!);
  return { fulfilled: first, submitted: [later[1]!], challenged: [later[0]!], refunded: [refunded] };
}

export interface FeaturesPopulated {
  erc20: FeatureReport;
  redundancy: FeatureReport;
  chained: FeatureReport;
  largeOutput: FeatureReport;
}

/**
 * Runs the dashboard's feature panels' features through the stack's relayer and workers (the demo:features
 * modules; the stack needs three workers for redundancy), and has the relayer watch the chain's contract so its
 * panel lists it. Throws when one was not delivered.
 */
export async function populateFeatures(stack: LocalStack, say: (line: string) => void = () => undefined): Promise<FeaturesPopulated> {
  const out: Partial<FeaturesPopulated> = {};
  for (const feature of [erc20, redundancy, chained, largeOutput]) {
    const report = await feature.run(stack, say);
    if (!report.delivered) throw new Error(`${feature.name} was not delivered: ${JSON.stringify(report)}`);
    out[feature.name as keyof FeaturesPopulated] = report;
  }
  // The demo advanced its chain itself; watched now, the relayer's chains panel lists it.
  stack.relayer.chainAdvancer.watch(String(out.chained!.contract), 0);
  return out as FeaturesPopulated;
}

async function main(): Promise<void> {
  const features = process.argv.includes("--features");
  const args = process.argv.slice(2).filter((a) => a !== "--features" && a !== "--");
  const out = resolve(args[0] ?? join(ROOT, "docs", "img", features ? "dashboard-features.png" : "dashboard.png"));
  const stack = await startLocalStack({ logger: createLogger("screenshot", { level: "warn" }), ...(features ? { tier: Tier.NONE, workers: 3 } : {}) });
  let browser: Browser | undefined;
  try {
    const populated = features ? undefined : await populate(stack);
    if (features) await populateFeatures(stack, (line) => console.log(line));
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 1100 }, deviceScaleFactor: 1 });
    if (populated !== undefined) {
      await page.goto(`${stack.relayer.url}/dashboard/#/requests/${populated.fulfilled[0]}`);
      await page.waitForSelector("#detail:not([hidden]) [data-testid=timeline] li");
    } else {
      await page.goto(`${stack.relayer.url}/dashboard/`);
      for (const panel of ["#tokens tbody tr", "#redundancy tbody tr", "#large-outputs tbody tr", "#chains tbody tr"]) await page.waitForSelector(panel);
    }
    await page.waitForSelector("#workers tbody tr");
    await page.waitForSelector("#live.on");
    mkdirSync(dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`screenshot written to ${out}`);
  } finally {
    await browser?.close();
    await stack.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
