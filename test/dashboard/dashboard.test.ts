/**
 * The live dashboard in a real headless Chromium (Debian's, installed by scripts/chromium.sh when
 * missing) against the real local stack: requests in every state, a detail view with its dispute
 * timeline, the worker table with on-chain stake and bond, charts drawn from real latencies and
 * gas, and a live update pushed over server-sent events without a reload.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../protocol/index.js";
import { launchChromium, populate, sendRequest, textRequest, type Populated } from "../../scripts/screenshot-dashboard.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";

/** Screenshots of each width, for a person to look at (not committed). */
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "../../.data/screenshots/dashboard");
const LABEL: Record<string, string> = { requested: "requested", submitted: "submitted", challenged: "challenged", fulfilled: "final", refunded: "refunded" };

describe("relayer dashboard in headless Chromium", () => {
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;
  let populated: Populated;
  const pageErrors: string[] = [];
  const outside: string[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ logger: createLogger("dashboard-test", { level: "silent" }) });
    populated = await populate(stack);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
    page.on("request", (r) => {
      if (!r.url().startsWith(stack.relayer.url) && !r.url().startsWith("data:")) outside.push(r.url());
    });
    await page.goto(`${stack.relayer.url}/dashboard`);
    await page.waitForSelector("body[data-loaded]");
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  const all = () => [...populated.fulfilled, ...populated.submitted, ...populated.challenged, ...populated.refunded];

  it("lists every request with its state and timings, and the totals agree with the database", async () => {
    expect(await page.locator("#requests tbody tr").count()).toBe(all().length);
    for (const id of all()) {
      const row = page.locator(`#requests tbody tr[data-request-id="${id}"]`);
      const dbState = stack.relayer.db.getRequest(id)!.state;
      expect(await row.locator("td.state").getAttribute("data-state")).toBe(dbState);
      expect(await row.locator("td.state .badge").textContent()).toBe(LABEL[dbState]);
    }
    for (const id of populated.fulfilled) {
      const row = page.locator(`#requests tbody tr[data-request-id="${id}"]`);
      expect(await row.locator("td.submit-latency").textContent()).toMatch(/^\d+(\.\d)? (ms|s)$/);
      expect(await row.locator("td.final-latency").textContent()).toMatch(/^\d+(\.\d)? (ms|s)$/);
    }
    const refundRow = page.locator(`#requests tbody tr[data-request-id="${populated.refunded[0]}"]`);
    // A wrong-shape input: the worker proved the type mismatch, refunded at once (finding 3).
    expect(await refundRow.textContent()).toContain("InputTypeMismatch");

    const card = (stat: string) => page.locator(`.card[data-stat="${stat}"] b`).textContent();
    expect(await card("fulfilled")).toBe("3");
    expect(await card("submitted")).toBe("1");
    expect(await card("challenged")).toBe("1");
    expect(await card("refunded")).toBe("1");
    expect(await card("requested")).toBe("0");
    expect(await card("transactions")).toBe(String(stack.relayer.transactions.length));
    expect(await card("disputes")).toBe("2 (1/0)");
    expect(await page.locator("#live").getAttribute("class")).toContain("on");

    // The state filter asks the API for one state only.
    await page.selectOption("#state-filter", "fulfilled");
    await waitFor(async () => (await page.locator("#requests tbody tr").count()) === 3, 10_000, "the filtered list");
    await page.selectOption("#state-filter", "");
    await waitFor(async () => (await page.locator("#requests tbody tr").count()) === all().length, 10_000, "the full list");
  });

  it("draws the latency and gas charts from real data", async () => {
    // One point per request with a result on-chain (5), and per request that reached a final state (4).
    expect(await page.locator("#latency-chart circle.submit").count()).toBe(5);
    expect(await page.locator("#latency-chart circle.final").count()).toBe(4);
    for (const c of await page.locator("#latency-chart circle").all()) {
      const cy = Number(await c.getAttribute("cy"));
      expect(cy).toBeGreaterThanOrEqual(0);
      expect(cy).toBeLessThanOrEqual(220);
    }
    // One bar per mined transaction, the tallest for the transaction that used the most gas.
    const txs = stack.relayer.transactions;
    const bars = page.locator("#gas-chart rect.bar");
    expect(await bars.count()).toBe(txs.length);
    const heights = await Promise.all((await bars.all()).map(async (b) => Number(await b.getAttribute("height"))));
    const maxGas = txs.reduce((i, t, j) => (t.gasUsed > txs[i]!.gasUsed ? j : i), 0);
    expect(heights.indexOf(Math.max(...heights))).toBe(maxGas);
    expect(new Set(await Promise.all((await bars.all()).map((b) => b.getAttribute("data-action"))))).toEqual(new Set(txs.map((t) => t.label)));
  });

  it("shows the worker with its on-chain stake, bond in use and results served", async () => {
    const operator = await stack.accounts.operator.getAddress();
    const row = page.locator(`#workers tbody tr[data-operator="${operator}"]`);
    expect(await page.locator("#workers tbody tr").count()).toBe(1);
    const onchain = await stack.oracle.getWorker(operator);
    expect(onchain.locked).toBeGreaterThan(0n); // the open results' bonds
    const eth = (wei: bigint) => `${wei / 10n ** 18n}.${(((wei % 10n ** 18n) * 10_000n) / 10n ** 18n).toString().padStart(4, "0")} ETH`;
    expect(await row.locator("td.stake").textContent()).toBe(eth(onchain.stake));
    expect(await row.locator("td.bond").textContent()).toBe(eth(onchain.locked));
    expect(await row.locator("td.served").textContent()).toBe("5");
  });

  it("opens a request's detail: commitments, input and output previews, transactions and the dispute timeline", async () => {
    const id = populated.fulfilled[0]!; // challenged, won by the worker, then settled
    await page.locator(`#requests tbody tr[data-request-id="${id}"]`).click();
    await page.waitForSelector("#detail:not([hidden]) [data-testid=timeline] li");
    expect(page.url()).toContain(`#/requests/${id}`);
    expect(await page.locator("[data-testid=detail-state]").getAttribute("data-state")).toBe("fulfilled");
    const events = await page.locator("[data-testid=timeline] li").evaluateAll((lis) => lis.map((li) => li.getAttribute("data-event")));
    const onchain = events.filter((e) => /^[A-Z]/.test(e ?? ""));
    expect(onchain).toEqual(["InferenceRequested", "ResultSubmitted", "ChallengeOpened", "DisputeResolved", "RequestFulfilled"]);
    expect(events).toContain("seen by the relayer");
    const row = stack.relayer.db.getRequest(id)!;
    const body = await page.locator("#detail-body").textContent();
    for (const hash of [row.inputHash, row.outputHash!, row.modelHash]) expect(body).toContain(hash);
    // The input is drawn (a [1,3,48,192] text line), the output is the model's two probabilities.
    const canvas = page.locator("[data-testid=input-preview] canvas");
    expect(await canvas.getAttribute("width")).toBe("192");
    const inked = await canvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let dark = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! < 128) dark++;
      return dark;
    });
    expect(inked).toBeGreaterThan(100); // the glyphs
    const output = await page.locator("[data-testid=output-preview]").textContent();
    expect(output).toContain("float32 [1, 2]");
    // Every transaction that touched the request: request, submission, challenge, ruling, settlement.
    expect(await page.locator("[data-testid=transactions] tbody tr").count()).toBe(5);
    expect(await page.locator("[data-testid=stage-bars] span").count()).toBeGreaterThan(2);

    const refunded = populated.refunded[0]!;
    await page.evaluate((r) => (location.hash = `#/requests/${r}`), refunded);
    await waitFor(async () => (await page.locator("[data-testid=detail-state]").getAttribute("data-state")) === "refunded", 10_000, "the refunded detail");
    const refundedEvents = await page.locator("[data-testid=timeline] li").evaluateAll((lis) => lis.map((li) => li.getAttribute("data-event")));
    expect(refundedEvents).toEqual(expect.arrayContaining(["InferenceRequested", "RequestRejected", "RequestRefunded"]));
    expect(await page.locator("#detail-body").textContent()).toContain("TENSOR_SPEC_MISMATCH");

    const open = populated.challenged[0]!;
    await page.evaluate((r) => (location.hash = `#/requests/${r}`), open);
    await waitFor(async () => (await page.locator("[data-testid=detail-state]").getAttribute("data-state")) === "challenged", 10_000, "the challenged detail");
    const disputeText = await page.locator("#detail-body").textContent();
    expect(disputeText).toContain(await stack.accounts.user.getAddress()); // the challenger
  });

  it("updates live over server-sent events when a new request arrives", async () => {
    await page.evaluate(() => (location.hash = ""));
    const before = await page.locator("#requests tbody tr").count();
    const id = await sendRequest(stack, textRequest("live update", false));
    stack.relayer.poke();
    // No reload: the row appears, then moves to submitted as the result lands on-chain.
    await page.waitForSelector(`#requests tbody tr[data-request-id="${id}"]`, { timeout: 30_000 });
    await page.waitForSelector(`#requests tbody tr[data-request-id="${id}"] td.state[data-state="submitted"]`, { timeout: 60_000 });
    expect(await page.locator("#requests tbody tr").count()).toBe(before + 1);
  });

  it("opens at the relayer's root address: a browser is sent to the dashboard, an API client gets the endpoints", async () => {
    const root = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    try {
      await root.goto(`${stack.relayer.url}/`);
      await root.waitForSelector("body[data-loaded]");
      expect(new URL(root.url()).pathname).toBe("/dashboard/");
    } finally {
      await root.close();
    }
    const res = await fetch(`${stack.relayer.url}/`, { headers: { accept: "application/json" } });
    expect(res.status).toBe(200);
    const index = (await res.json()) as { dashboard: string; endpoints: string[] };
    expect(index.dashboard).toBe("/dashboard/");
    expect(index.endpoints).toContain("/health");
  });

  it("reads well at 1440 px, 900 px and on a phone: no blank half, nothing cut off or squeezed, names and labels instead of hashes and raw values", async () => {
    mkdirSync(SHOTS, { recursive: true });
    const id = populated.fulfilled[0]!; // challenged, won by the worker, then settled
    for (const [width, height] of [[1440, 1000], [900, 1000], [390, 844]] as const) {
      const p = await browser.newPage({ viewport: { width, height } });
      p.on("pageerror", (e) => pageErrors.push(e.message));
      try {
        await p.goto(`${stack.relayer.url}/dashboard/`);
        await p.waitForSelector("body[data-loaded]");
        // No request open: the list takes the whole width (no blank right half).
        const list = await p.locator(".split > .panel").first().evaluate((e) => e.getBoundingClientRect().width);
        expect(list, `${width} px`).toBeGreaterThan(width - 60);
        expect(await p.locator(`#requests tbody tr[data-request-id="${id}"] td`).nth(3).textContent()).toBe("ppocr-cls");
        await p.screenshot({ path: join(SHOTS, `list-${width}.png`), fullPage: true });

        await p.evaluate((r) => (location.hash = `#/requests/${r}`), id);
        await p.waitForSelector("#detail:not([hidden]) [data-testid=timeline] li");
        // Nothing wider than the window; every panel holds its content (wide tables scroll inside it).
        expect(await p.evaluate(() => document.documentElement.scrollWidth), `${width} px page`).toBeLessThanOrEqual(width);
        const overflowing = await p.locator(".panel, figure, .card").evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.id || e.className));
        expect(overflowing, `${width} px`).toEqual([]);
        // Values get room: no definition squeezed into a few characters a line.
        const narrowest = await p.locator("#detail-body dd").evaluateAll((dds) => Math.min(...dds.map((d) => d.getBoundingClientRect().width)));
        expect(narrowest, `${width} px`).toBeGreaterThan(width < 600 ? 90 : 150);
        await p.screenshot({ path: join(SHOTS, `detail-${width}.png`), fullPage: true });

        const detail = (await p.locator("#detail-body").textContent())!;
        expect(detail).toContain("ppocr-cls · 0x491843a3");
        expect(await p.locator("[data-testid=output-preview]").textContent()).toMatch(/answer(upright \(0°\)|upside down \(180°\)) \(class [01]\)/);
        expect(await p.locator("[data-testid=stage-legend] span").count()).toBe(await p.locator("[data-testid=stage-bars] span").count());
        expect(detail).not.toMatch(/\b(fee|tier|bond)=/);
        expect(detail).not.toMatch(/0x0{64}/);
        expect(detail).toContain("On chain (block · chain time");
        expect(detail).toContain("Relayer (wall clock)");
        const clocks = await p.locator("[data-testid=timeline]").evaluateAll((ols) => ols.map((o) => o.getAttribute("data-clock")));
        expect(clocks).toEqual(["chain", "wall"]);
      } finally {
        await p.close();
      }
    }
  });

  it("loads nothing from outside the relayer and logs no errors", () => {
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
