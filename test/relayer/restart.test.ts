/**
 * The relayer's persisted state: a relayer killed between seeing requests and submitting their
 * results, then restarted on the same database, neither misses nor repeats a job, and every
 * request still settles exactly once.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUEUES, createLogger } from "../../protocol/index.js";
import { Relayer } from "../../relayer/index.js";
import { RegistryCatalog, Worker } from "../../worker/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

describe("relayer restart", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("resumes from its cursor without missing or repeating jobs", async () => {
    const logger = createLogger("test", { level: "silent" });
    // No worker yet: jobs wait in the queue. Every job publish is recorded by message id.
    await stack.workers[0]!.close();
    const published: string[] = [];
    const publish = stack.queue.publish.bind(stack.queue);
    stack.queue.publish = async (queue, body, options) => {
      if (queue === QUEUES.jobs) published.push(options?.messageId ?? "?");
      return publish(queue, body, options);
    };

    const inputs = await Promise.all(["one", "two", "three"].map((t, i) => uploadBlob(stack, textInput(t, i === 1))));
    const before = [] as string[];
    for (const input of inputs.slice(0, 2)) before.push(await classify(stack, input));
    stack.relayer.poke();
    await waitFor(() => before.every((id) => stateOf(stack, id) === "requested" && stack.relayer.db.getRequest(id)!.jobPublishedAt !== null), 10_000, "jobs published");
    const cursorBefore = Number(stack.relayer.db.getMeta("cursor"));

    // Kill the relayer. One more request arrives while it is down.
    const dataDir = stack.relayer.config.dataDir;
    // Same address after the restart: the requests' input URIs point at this relayer's blob store.
    const port = Number(new URL(stack.relayer.url).port);
    await stack.relayer.close();
    const during = await classify(stack, inputs[2]!);

    // Restart on the same database and queue, then bring a worker up.
    stack.relayer = await Relayer.start({
      provider: stack.ethers.provider,
      signer: stack.accounts.relayer,
      oracleAddress: await stack.oracle.getAddress(),
      queue: stack.queue,
      logger,
      config: { dataDir, startBlock: stack.deployBlock, pollIntervalMs: 50, api: { port } },
    });
    expect(Number(stack.relayer.db.getMeta("cursor"))).toBeGreaterThanOrEqual(cursorBefore);
    const worker = new Worker({
      queue: stack.queue,
      logger,
      catalog: new RegistryCatalog({ provider: stack.ethers.provider, registry: await stack.registry.getAddress() }),
      config: {
        signerKey: stack.workerSigners[0]!.privateKey,
        allowedOracles: [{ chainId: stack.chainId, oracle: await stack.oracle.getAddress() }],
        modelCacheDir: join(stack.dataDir, "worker-restart", "models"),
        modelSchemes: ["http", "https", "file", "npm"], // opt in: the local stack's models are npm:/file: URIs
        blobStoreUrl: stack.relayer.url,
      },
    });
    stack.workers[0] = worker;
    await worker.start();

    const all = [...before, during];
    await waitFor(() => all.every((id) => stateOf(stack, id) === "submitted"), 60_000, "submissions after restart");
    // Exactly three jobs ever published: the two from before the crash were not republished.
    expect(published.sort()).toEqual([...all].sort());
    expect(await stack.queue.depth(QUEUES.jobs)).toBe(0);
    const rows = all.map((id) => stack.relayer.db.getRequest(id)!);
    expect(rows.every((r) => r.jobPublishedAt !== null)).toBe(true);
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => all.every((id) => stateOf(stack, id) === "fulfilled"), 60_000, "settlement");
    expect(await stack.dapp.resultCount()).toBe(3n);
  });
});
