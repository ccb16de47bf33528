/**
 * The dashboard's feature panels (issue 18) against a real local stack (three workers) that ran each feature
 * through its relayer (scripts/features/: a token-paid request with a permit, a k = 2 redundant job, a two-step
 * chain, large outputs delivered as their hash): the APIs report what the chain and the blob store hold —
 * the token's requests and amounts, the job's counted answers with their requests' states, each large output
 * fetched from the store and hashed to its output hash, each chain step's request — and the panels in headless
 * Chromium show them.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, Tier, signPermit, encodeTensor } from "../../protocol/index.js";
import { launchChromium, populateFeatures, type FeaturesPopulated } from "../../scripts/screenshot-dashboard.js";
import { textLineTensor } from "../../examples/text-images.js";
import { TestPermitToken__factory, TokenFeeDApp__factory } from "../../types/ethers-contracts/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("dashboard: feature panels", () => {
  let stack: LocalStack;
  let ran: FeaturesPopulated;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const api = async (path: string): Promise<Json> => {
    const res = await fetch(`${stack.relayer.url}/api/${path}`);
    expect(res.status, path).toBe(200);
    return (await res.json()) as Json;
  };

  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("dashboard-features", { level: "silent" }) });
    ran = await populateFeatures(stack);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1400 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("/api/tokens: the token's request, paid in full, nothing left in escrow", async () => {
    const { tokens } = await api("tokens");
    const token = String(ran.erc20.token).toLowerCase();
    expect(tokens).toHaveLength(1);
    const t = tokens[0];
    expect(t.token).toBe(token);
    expect(t.symbol).toBe(await TestPermitToken__factory.connect(token, stack.ethers.provider).symbol());
    expect(t.decimals).toBe(18);
    expect(t).toMatchObject({ requests: 1, byState: { fulfilled: 1 }, escrowed: "0", refunded: "0", paid: String(ran.erc20.amount) });
    // The owner's share as the oracle credited it.
    expect(t.ownerFees).toBe((ran.erc20.paidInToken as { owner: string }).owner);
  });

  it("/api/tokens: a token request in its challenge window is in escrow until it settles", async () => {
    const { user } = stack.accounts;
    const token = String(ran.erc20.token);
    const amount = BigInt(String(ran.erc20.amount));
    const dapp = await new TokenFeeDApp__factory(user).deploy(await stack.oracle.getAddress(), token, stack.modelHash, Tier.OPTIMISTIC, 200_000);
    const dappAddress = await dapp.getAddress();
    const input = encodeTensor(textLineTensor("held in escrow", { rotated: false }));
    const blob = (await (await fetch(`${stack.relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.from(input) })).json()) as { hash: string; uri: string };
    const deadline = BigInt(await stack.networkHelpers.time.latest()) + 3600n;
    const permit = await signPermit(user, token, dappAddress, amount, deadline);
    const basefee = (await stack.ethers.provider.getBlock("latest"))!.baseFeePerGas ?? 0n;
    const gasPrice = basefee > DEFAULT_PARAMS.minGasPrice ? basefee : DEFAULT_PARAMS.minGasPrice;
    const receipt = (await (await dapp.requestWithPermit({ inputHash: blob.hash, input: "0x", inputURI: blob.uri, deadline }, amount, { deadline, v: permit.v, r: permit.r, s: permit.s }, { value: 200_000n * gasPrice * 2n })).wait())!;
    const id = receipt.logs.map((l) => { try { return stack.oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested")!.args.requestId as string;
    stack.relayer.poke();
    await waitFor(() => stack.relayer.db.getRequest(id.toLowerCase())?.state === "submitted", 60_000, "the OPTIMISTIC token request's result");

    let t = (await api("tokens")).tokens[0];
    expect(t).toMatchObject({ requests: 2, byState: { fulfilled: 1, submitted: 1 }, escrowed: amount.toString(), paid: amount.toString(), refunded: "0" });
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stack.relayer.db.getRequest(id.toLowerCase())?.state === "fulfilled", 60_000, "settlement");
    t = (await api("tokens")).tokens[0];
    expect(t).toMatchObject({ requests: 2, byState: { fulfilled: 2 }, escrowed: "0", paid: (2n * amount).toString() });
  });

  it("/api/large-outputs: each hash-only output, fetched from the blob store and hashed to its output hash; the inline one absent", async () => {
    const { delivered, outputs } = await api("large-outputs");
    const large = ran.largeOutput.large as { requestId: string; outputHash: string; bytesFetched: number };
    const optimistic = ran.largeOutput.optimistic as { requestId: string; outputHash: string };
    const small = ran.largeOutput.small as { requestId: string };
    const byId = new Map((outputs as Json[]).map((o) => [o.requestId, o]));
    for (const r of [large, optimistic]) {
      const o = byId.get(r.requestId.toLowerCase())!;
      expect(o, r.requestId).toBeDefined();
      expect(o).toMatchObject({ outputHash: r.outputHash.toLowerCase(), state: "fulfilled", stored: true, verified: true, tensor: { dtype: "float32", shape: [1, 1, 64, 64] } });
      expect(o.uri).toBe(`${stack.relayer.url}/blobs/${r.outputHash.toLowerCase()}`);
      expect(o.size).toBe(large.bytesFetched);
    }
    expect(byId.get(small.requestId.toLowerCase())).toBeUndefined();
    expect(delivered.hashOnly).toBe(2);
    // Every other request of the run was delivered inline (token, redundancy, chain steps, the small output).
    expect(delivered.inline).toBe(stack.relayer.db.countByState().fulfilled! - 2);
  });

  it("/api/redundancy: the job agreed and delivered, k answers counted from distinct workers, each request final", async () => {
    const { contracts } = await api("redundancy");
    const c = (contracts as Json[]).find((x) => x.address === String(ran.redundancy.contract).toLowerCase())!;
    expect(c).toBeDefined();
    const job = (c.jobs as Json[]).find((j) => j.jobId === ran.redundancy.jobId)!;
    expect(job).toMatchObject({ status: "Agreed", delivered: true, callbackSucceeded: true, k: 2, counted: 2, outputHash: ran.redundancy.outputHash });
    const counted = (job.answers as Json[]).filter((a) => a.status === "Counted");
    expect(counted).toHaveLength(2);
    expect(new Set(counted.map((a) => a.worker.toLowerCase())).size).toBe(2);
    for (const a of counted) {
      expect(a.outputHash).toBe(job.outputHash);
      expect(a.request).toMatchObject({ state: "fulfilled", worker: a.worker });
    }
    expect(job.answers).toHaveLength(Number(ran.redundancy.answers));
  });

  it("/api/chains: the chain completed, each step's request final at the relayer", async () => {
    const { contracts } = await api("chains");
    const c = (contracts as Json[]).find((x) => x.address === String(ran.chained.contract).toLowerCase())!;
    const chain = (c.chains as Json[]).find((x) => x.chainId === ran.chained.chainId)!;
    expect(chain).toMatchObject({ status: "Completed", step: 2, steps: 2 });
    expect(chain.stepStates).toHaveLength(2);
    expect(chain.stepStates.map((s: Json) => s.step)).toEqual([1, 2]);
    expect(chain.stepStates.map((s: Json) => s.requestId)).toEqual(chain.requestIds.map((id: string) => id.toLowerCase()));
    for (const s of chain.stepStates) expect(s.request.state).toBe("fulfilled");
  });

  it("the panels show them in the browser", async () => {
    await page.goto(`${stack.relayer.url}/dashboard/`);
    await page.waitForSelector("body[data-features-loaded]");
    await page.waitForSelector("#chains tbody tr");

    const tokenRow = page.locator(`#tokens tbody tr[data-token="${String(ran.erc20.token).toLowerCase()}"]`);
    expect(await tokenRow.locator(".token-requests").textContent()).toBe("2");
    expect(await tokenRow.locator(".token-paid").textContent()).toBe("10.0000 TPT");
    expect(await tokenRow.locator(".token-escrowed").textContent()).toBe("0.0000 TPT");

    const large = ran.largeOutput.large as { requestId: string };
    const outRow = page.locator(`#large-outputs tbody tr[data-request-id="${large.requestId.toLowerCase()}"]`);
    expect(await outRow.locator(".verified").getAttribute("data-verified")).toBe("true");
    expect(await outRow.locator("td").nth(3).textContent()).toBe("float32[1×1×64×64]");

    const jobRow = page.locator(`#redundancy tbody tr[data-job="${String(ran.redundancy.contract).toLowerCase()}/${ran.redundancy.jobId}"]`);
    expect(await jobRow.locator(".job-status").textContent()).toBe("Agreed · delivered");
    expect(await jobRow.locator('.answer[data-answer="Counted"]').count()).toBe(2);

    const chainRow = page.locator(`#chains tbody tr[data-chain="${String(ran.chained.contract).toLowerCase()}/${ran.chained.chainId}"]`);
    expect(await chainRow.locator(".step-states").textContent()).toBe("1: final · 2: final");
    // At 900 px and on a phone the panels stack in one column and their wide tables scroll inside them: the
    // page itself never scrolls sideways.
    for (const width of [900, 390]) {
      await page.setViewportSize({ width, height: 1200 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${width} px`).toBeLessThanOrEqual(width);
      const tokens = (await page.locator("#tokens-panel").boundingBox())!;
      const outputs = (await page.locator("#large-outputs-panel").boundingBox())!;
      expect(outputs.y, `${width} px: one column`).toBeGreaterThanOrEqual(tokens.y + tokens.height);
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
