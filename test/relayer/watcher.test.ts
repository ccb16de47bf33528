/**
 * The EventWatcher as the relayer's one reader of logs, on a real chain (a local stack, NONE tier:
 * each request is requested, submitted and fulfilled): a second watcher on its own database hands
 * every subscriber the same decoded events in chain order, one subscriber after the other; a
 * subscriber that fails leaves the cursor where it was, so the next poll hands the range over again.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier, createLogger } from "../../protocol/index.js";
import { RelayerDb } from "../../relayer/db.js";
import type { DomainEvent, EventSubscriber } from "../../relayer/events.js";
import { EventWatcher } from "../../relayer/watcher.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

describe("EventWatcher", () => {
  let stack: LocalStack;
  let dir: string;
  let db: RelayerDb;
  const ids: string[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE });
    for (const text of ["left", "right"]) {
      const id = await classify(stack, await uploadBlob(stack, textInput(text, text === "right")));
      ids.push(id.toLowerCase());
    }
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "fulfilled"), 30_000, "both requests fulfilled");
    dir = mkdtempSync(join(tmpdir(), "watcher-"));
    db = new RelayerDb(dir);
  });
  afterAll(async () => {
    db?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    await stack?.close();
  });

  it("hands every subscriber the same decoded events in chain order, and retries a range a subscriber failed", async () => {
    const watcher = new EventWatcher({ provider: stack.ethers.provider, oracleAddress: await stack.oracle.getAddress() }, db, createLogger("test", { level: "silent" }), {
      confirmations: 0,
      logBlockRange: 3,
      startBlock: stack.deployBlock,
    });
    const first: DomainEvent[] = [];
    const second: DomainEvent[] = [];
    let failOnce = true;
    const recorder = (into: DomainEvent[]): EventSubscriber => ({ onEvents: (events) => void into.push(...events) });
    watcher.subscribe(recorder(first));
    watcher.subscribe({
      onEvents(events) {
        // Subscribers run in order: the first already holds this range's events.
        if (events.length > 0) expect(first.slice(-events.length)).toEqual(events);
        if (failOnce && events.some((e) => e.kind === "fulfilled")) {
          failOnce = false;
          throw new Error("subscriber down");
        }
        second.push(...events);
      },
    });

    await expect(watcher.poll()).rejects.toThrow("subscriber down");
    const stuckAt = watcher.cursor();
    const head = await stack.ethers.provider.getBlockNumber();
    expect(stuckAt).toBeLessThan(head);
    await watcher.poll();
    expect(watcher.cursor()).toBe(head);

    // The failed range was handed over again: the first subscriber saw it twice, the second once.
    const lifecycle = (events: DomainEvent[], id: string) => events.filter((e) => "requestId" in e && e.requestId === id).map((e) => e.kind);
    // A NONE result is fulfilled inside submitBatch, before the batch's one ResultBatchSubmitted names it.
    for (const id of ids) expect(lifecycle(second, id)).toEqual(["requested", "fulfilled", "resultSubmitted"]);
    for (const id of ids) expect(second.find((e) => e.kind === "resultSubmitted" && e.requestId === id)).toMatchObject({ optimistic: false, attempt: 0 });
    expect(first.length).toBeGreaterThan(second.length);
    const order = second.map((e) => [e.at.block, e.at.logIndex] as const);
    expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
    const requested = second.find((e) => e.kind === "requested");
    expect(requested?.kind === "requested" && requested.inputURI.startsWith(stack.relayer.url)).toBe(true);
  });
});
