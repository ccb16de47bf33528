/**
 * The dashboard's request detail for a model with several named inputs and outputs, in a real headless
 * Chromium against the local stack: one preview box per named tensor (issue 14).
 */
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, Tier } from "../../protocol/index.js";
import { OracleClient } from "../../sdk/index.js";
import { launchChromium } from "../../scripts/screenshot-dashboard.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { frame, SR, VAD_FILE, VAD_HASH, ZERO_STATE } from "../worker/vad-fixtures.js";

describe("dashboard: a request with several named inputs and outputs", () => {
  let stack: LocalStack;
  let browser: Browser;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, logger: createLogger("dashboard-test", { level: "silent" }) });
    const zero = "0x0000000000000000000000000000000000000000";
    await (await stack.registry.connect(stack.accounts.modelOwner).registerModelIO(
      VAD_HASH,
      { owner: zero, fee: 0n, tiers: 1, active: true, resolver: zero, zkVerifier: zero, commitmentRoot: `0x${"00".repeat(32)}`, input: { dtype: 1, shape: [1] }, output: { dtype: 1, shape: [1] }, uris: [pathToFileURL(VAD_FILE).href] },
      [{ name: "input", dtype: 1, shape: [1, 64] }, { name: "sr", dtype: 7, shape: [] }, { name: "state", dtype: 1, shape: [1, 1, 8] }],
      [{ name: "output", dtype: 1, shape: [1, 1] }, { name: "stateN", dtype: 1, shape: [1, 1, 8] }],
    )).wait();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("test_detail_oneBoxPerNamedTensor", async () => {
    const client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user, relayerUrl: stack.relayer.url, pollIntervalMs: 100 });
    const sent = await client.request({ modelHash: VAD_HASH, inputs: { input: frame(2), sr: SR, state: ZERO_STATE } });
    stack.relayer.poke();
    await client.wait(sent.requestId, { timeoutMs: 60_000 });
    await waitFor(() => stack.relayer.db.getRequest(sent.requestId.toLowerCase())?.state === "fulfilled", 30_000, "the relayer's record");
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${stack.relayer.url}/dashboard#/requests/${sent.requestId.toLowerCase()}`);
    await page.waitForSelector("[data-testid=output-staten-preview]");
    const text = async (id: string) => (await page.locator(`[data-testid=${id}-preview]`).textContent()) ?? "";
    expect(await text("input-input")).toMatch(/Input · input.*float32 \[1, 64\]/);
    expect(await text("input-sr")).toMatch(/Input · sr.*int64 \[\] · 16 bytes.*1\.600e\+4/);
    expect(await text("input-state")).toMatch(/Input · state.*float32 \[1, 1, 8\]/);
    expect(await text("output-output")).toMatch(/Output · output.*float32 \[1, 1\]/);
    expect(await text("output-staten")).toMatch(/Output · stateN.*float32 \[1, 1, 8\]/);
    expect(errors).toEqual([]);
  }, 120_000);
});
