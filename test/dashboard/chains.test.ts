/**
 * The dashboard's "Chained requests" panel in a real headless Chromium: a relayer watching a ChainedInference
 * contract advances a two-model chain (scripts/features/chained.ts's models) and the panel lists it
 * Completed at step 2 of 2 with links to both of its requests; with no chain contract the panel stays hidden.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createLogger, encodeTensor, Tier } from "../../protocol/index.js";
import { launchChromium } from "../../scripts/screenshot-dashboard.js";
import { sha256File, startLocalStack, waitFor, MNIST_MODEL_PATH, type LocalStack } from "../../stack/local-stack.js";
import { writeMnistPreprocess } from "../../scripts/chain-models.js";
import { chained } from "../../scripts/features/chained.js";
import { chainStatus, chainStepFees, requestChain, ChainStatus, ChainedInference__factory } from "../../sdk/index.js";

describe("dashboard: chained requests panel", () => {
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 1, logger: createLogger("dashboard-chains", { level: "silent" }) });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("hides the panel without chains, then lists a chain the relayer advanced, linking its requests", async () => {
    await page.goto(`${stack.relayer.url}/dashboard`);
    await page.waitForSelector("body[data-loaded]");
    expect(await page.locator("#chains-panel").isHidden()).toBe(true);

    // Registers the two models (and runs one chain through the SDK); then a watched contract's chain.
    const report = await chained.run(stack, () => undefined);
    expect(report.delivered).toBe(true);
    const c = await new ChainedInference__factory(stack.accounts.user).deploy(await stack.oracle.getAddress());
    stack.relayer.chainAdvancer.watch(await c.getAddress(), await stack.ethers.provider.getBlockNumber());
    const steps = [{ modelHash: writeMnistPreprocess(stack.dataDir + "/chain-models").modelHash, tier: Tier.NONE }, { modelHash: sha256File(MNIST_MODEL_PATH), tier: Tier.NONE }];
    const fees = await chainStepFees(c, steps);
    const deadline = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp) + 600n;
    const picture = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: new Float32Array(784).fill(0.25) });
    const { chainId } = await requestChain(c, { steps: steps.map((s, i) => ({ ...s, fee: fees[i]! })), input: picture, deadline });
    await waitFor(async () => (await chainStatus(c, chainId)).status === ChainStatus.Completed, 60_000, "the relayer to complete the chain");
    const ids = (await chainStatus(c, chainId)).requestIds;

    await page.reload();
    await page.waitForSelector("#chains tbody tr");
    expect(await page.locator("#chains-panel").isVisible()).toBe(true);
    const row = page.locator(`#chains tbody tr[data-chain="${(await c.getAddress()).toLowerCase()}/${chainId}"]`);
    await expect.poll(async () => row.count()).toBe(1);
    // The panel's chain reads are shared for 2 s (relayer/dashboard-features.ts): a refresh shows Completed.
    await expect.poll(async () => (await row.locator("td").allInnerTexts())[1], { timeout: 15_000 }).toBe("Completed");
    const cells = await row.locator("td").allInnerTexts();
    expect(cells[2]).toBe("2 / 2");
    const links = await row.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    expect(links).toEqual(ids.map((id) => `#/requests/${id}`));
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
