/**
 * Large outputs end to end (issue 18) on the real stack: the PP-OCR classifier's 24-byte output asked
 * for as hash only (maxInlineOutput 1) and inline (the default), in NONE and OPTIMISTIC. The worker
 * sends the bytes (they fit its own cap); the relayer turns them into the size proof where the request's
 * threshold says so (relayer/delivery.ts), and serves them at /blobs/<hash> for the SDK's fetchOutput.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestStatus, Tier, hashEncoded, type Hex } from "../../protocol/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { LargeOutputDApp__factory, type LargeOutputDApp } from "../../types/ethers-contracts/index.js";
import { OracleClient } from "../../sdk/index.js";
import { stateOf, textInput, uploadBlob } from "./helpers.js";

describe("large outputs end to end", () => {
  let stack: LocalStack;
  let client: OracleClient;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE });
    client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user, relayerUrl: stack.relayer.url, pollIntervalMs: 100 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function dappFor(tier: Tier): Promise<LargeOutputDApp> {
    const d = await new LargeOutputDApp__factory(stack.accounts.user).deploy(await stack.oracle.getAddress(), stack.modelHash, stack.modelHash, tier, 200_000);
    await d.waitForDeployment();
    return d;
  }

  async function ask(d: LargeOutputDApp, fn: "detect" | "classify", text: string): Promise<Hex> {
    const { hash, uri } = await uploadBlob(stack, textInput(text, false));
    const quote = await client.quote(stack.modelHash, 200_000);
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const receipt = (await (await d[fn](hash, uri, deadline, { value: quote.minimum })).wait())!;
    const ev = receipt.logs.map((l) => { try { return stack.oracle.interface.parseLog(l); } catch { return null; } }).find((p) => p?.name === "InferenceRequested");
    return ev!.args.requestId as Hex;
  }

  it("test_none_hashOnlyAndInline_relayerPicksTheFormPerRequest_sdkFetchesAndChecks", async () => {
    const d = await dappFor(Tier.NONE);
    const hashOnly = await ask(d, "detect", "hash only please");
    const inline = await ask(d, "classify", "inline please");
    stack.relayer.poke();
    await client.wait(hashOnly, { timeoutMs: 60_000 });
    await client.wait(inline, { timeoutMs: 60_000 });
    const h = await d.delivery(hashOnly);
    const i = await d.delivery(inline);
    expect([h.received, h.isInline, h.output]).toEqual([true, false, "0x"]);
    expect([i.received, i.isInline]).toEqual([true, true]);
    expect(hashEncoded(Buffer.from(i.output.slice(2), "hex"))).toBe(i.outputHash.toLowerCase());
    // The hash-only output's bytes are at the relayer, checked against the hash the dApp holds.
    const fetched = await client.fetchOutput(hashOnly);
    expect(fetched.inline).toBe(false);
    expect(fetched.outputHash.toLowerCase()).toBe(h.outputHash.toLowerCase());
    expect(hashEncoded(fetched.bytes)).toBe(h.outputHash.toLowerCase());
    expect((await client.fetchOutput(inline)).inline).toBe(true);
  });

  it("test_optimistic_hashOnly_settledBySizeProofAfterWindow", async () => {
    const d = await dappFor(Tier.OPTIMISTIC);
    const id = await ask(d, "detect", "optimistic hash only");
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 60_000, "submission");
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 60_000, "settlement");
    expect(await stack.oracle.state(id)).toBe(BigInt(RequestStatus.Fulfilled));
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.output]).toEqual([true, false, "0x"]);
    expect(hashEncoded((await client.fetchOutput(id)).bytes)).toBe(got.outputHash.toLowerCase());
  });
});
