/**
 * Reorgs deeper than the relayer's confirmation depth, made on the real in-process chain with
 * evm_snapshot / evm_revert and a different history mined after the fork (other timestamps, so
 * other block hashes). The watcher notices the hash mismatch, rewinds its cursor and re-scans, and
 * the re-scan is idempotent by the request's state on-chain:
 *   - a request whose event disappeared is orphaned (no refund attempt, replies dropped);
 *   - the same request mined again later (moved) is revived without publishing its job twice;
 *   - a result whose transaction the reorg undid lands again exactly once;
 *   - a result that still stands is never sent again (no ResultSkipped anywhere).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUEUES, createLogger, querySubmitted } from "../../protocol/index.js";
import { RegistryCatalog, Worker } from "../../worker/index.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

const CONFIRMATIONS = 2;

describe("reorgs below the confirmation depth", () => {
  let stack: LocalStack;
  const published: string[] = [];
  beforeAll(async () => {
    // A long poll interval: the test drives the relayer's ticks itself.
    stack = await startLocalStack({ relayer: { confirmations: CONFIRMATIONS, pollIntervalMs: 3_600_000, maxBatchWaitMs: 20 } });
    await stack.workers[0]!.close();
    const publish = stack.queue.publish.bind(stack.queue);
    stack.queue.publish = async (queue, body, options) => {
      if (queue === QUEUES.jobs) published.push(String((body as { requestId: string }).requestId).toLowerCase());
      return publish(queue, body, options);
    };
  });
  afterAll(async () => {
    await stack?.close();
  });

  const rpc = (method: string, params: unknown[] = []) => stack.ethers.provider.send(method, params);
  const watcher = () => (stack.relayer as unknown as { watcher: { reorgs: { forkBlock: number; depth: number }[] } }).watcher;
  /** Mines `n` blocks, after moving the clock by `skew` seconds (a different history gets different hashes). */
  const mine = async (n: number, skew = 0) => {
    if (skew > 0) await rpc("evm_increaseTime", [skew]);
    for (let i = 0; i < n; i++) await rpc("evm_mine");
  };
  const eventsFor = async (name: "ResultSubmitted" | "ResultSkipped", id?: string) => {
    // Accepted results are records of one ResultBatchSubmitted per batch (protocol/batch-wire.ts).
    if (name === "ResultSubmitted") {
      const results = await querySubmitted(stack.ethers.provider, await stack.oracle.getAddress(), { fromBlock: stack.deployBlock });
      return results.map((r) => r.requestId as string).filter((r) => id === undefined || r === id);
    }
    const topic = stack.oracle.interface.getEvent(name).topicHash;
    const logs = await stack.ethers.provider.getLogs({ address: await stack.oracle.getAddress(), fromBlock: stack.deployBlock, topics: [topic] });
    return logs.map((l) => l.topics[1]!.toLowerCase()).filter((r) => id === undefined || r === id);
  };
  const startWorker = async () => {
    const worker = new Worker({
      queue: stack.queue,
      logger: createLogger("test", { level: "silent" }),
      catalog: new RegistryCatalog({ provider: stack.ethers.provider, registry: await stack.registry.getAddress() }),
      config: {
        signerKey: stack.workerSigners[0]!.privateKey,
        allowedOracles: [{ chainId: stack.chainId, oracle: await stack.oracle.getAddress() }],
        modelCacheDir: join(stack.dataDir, "worker-reorg", "models"),
        modelSchemes: ["http", "https", "file", "npm"], // opt in: the local stack's models are npm:/file: URIs
        blobStoreUrl: stack.relayer.url,
      },
    });
    stack.workers[0] = worker;
    await worker.start();
  };

  it("orphans a request whose event disappeared and revives it without a second job when it is mined again", async () => {
    const input = await uploadBlob(stack, textInput("reorg me", false));
    const fork = await rpc("evm_snapshot");
    const id = await classify(stack, input);
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("requested");
    expect(published).toEqual([id]);

    // Another history from the fork on, longer than the first: the request never happened there.
    await rpc("evm_revert", [fork]);
    await mine(CONFIRMATIONS + 4, 17);
    await stack.relayer.tick();
    expect(watcher().reorgs).toHaveLength(1);
    expect(stateOf(stack, id)).toBe("orphaned");
    expect(Number((await stack.oracle.getRequest(id)).status)).toBe(0);
    // An orphaned request is not refunded at its deadline nor served.
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("orphaned");

    // The same request is sent again in the new history (same sequence number: same id and input).
    const again = await classify(stack, input);
    expect(again).toBe(id);
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("requested");
    expect(stack.relayer.db.getRequest(id)!.block).toBeGreaterThan(0);
    expect(published).toEqual([id]); // its job (still in the queue) was not published twice

    // A worker serves the queued job; the result lands once.
    await startWorker();
    await waitFor(async () => (await eventsFor("ResultSubmitted", id)).length === 1, 30_000, "result submitted");
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("submitted");
  });

  it("sends a result again when a reorg undid its transaction, and never one that still stands", async () => {
    await stack.workers[0]!.close();
    const first = (await eventsFor("ResultSubmitted"))[0]!;
    const input = await uploadBlob(stack, textInput("undo my result", true));
    const id = await classify(stack, input);
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(published.filter((p) => p === id)).toHaveLength(1);

    const fork = await rpc("evm_snapshot");
    await startWorker();
    await waitFor(async () => (await eventsFor("ResultSubmitted", id)).length === 1, 30_000, "result submitted");
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("submitted");

    // The submission is undone: another history without it, longer than the first.
    await rpc("evm_revert", [fork]);
    await mine(CONFIRMATIONS + 5, 23);
    expect(await eventsFor("ResultSubmitted", id)).toHaveLength(0);
    await stack.relayer.tick();
    expect(watcher().reorgs).toHaveLength(2);
    // The relayer's transaction is sent again (or the result resubmitted); it lands exactly once.
    await waitFor(async () => (await eventsFor("ResultSubmitted", id)).length === 1, 30_000, "result submitted again");
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();
    expect(stateOf(stack, id)).toBe("submitted");
    await mine(CONFIRMATIONS + 1);
    await stack.relayer.tick();

    expect(await eventsFor("ResultSubmitted", id)).toHaveLength(1);
    expect(await eventsFor("ResultSubmitted", first)).toHaveLength(1);
    expect(await eventsFor("ResultSkipped")).toHaveLength(0);
    expect(published.filter((p) => p === id)).toHaveLength(1);
  });
});
