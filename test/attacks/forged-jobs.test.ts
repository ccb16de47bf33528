/**
 * Issue 13, finding 4 (first half): forged jobs. Anyone who can publish to `oracle.jobs` could send a
 * job with a real request id and a wrong input hash; the honest worker signed a
 * `Rejection(requestId, reason)` that does not bind the input, the relayer accepted it, and the
 * victim was refunded. Now a worker with a chain checks each job against the oracle's `getRequest`
 * before it runs or rejects it: a job that disagrees (model, input hash, deadline) is dead-lettered
 * with nothing signed, and a job for a request that is not open is dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUEUES, Tier, createLogger, encodeTensor, hashEncoded, isError, bytesToHex, type Job } from "../../protocol/index.js";
import { InProcessQueue, type Json } from "../../queue/index.js";
import { OracleRequestLookup, RegistryCatalog, Worker } from "../../worker/index.js";
import { DEFAULT_PARAMS, MODEL_FEE, startLocalStack, type LocalStack } from "../../stack/local-stack.js";
import { textLineTensor } from "../../examples/text-images.js";
import { randomHash, tempDir } from "../worker/fixtures.js";

describe("attack: a forged job naming a real request", () => {
  let stack: LocalStack;
  let worker: Worker;
  let queue: InProcessQueue;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const published: Json[] = [];

  beforeAll(async () => {
    // No stack worker: the genuine job waits in the stack's queue, so the request stays open.
    stack = await startLocalStack({ logger: createLogger("attack", { level: "silent" }), workers: 0 });
    tmp = await tempDir();
    queue = new InProcessQueue();
    await queue.consume<Json>(QUEUES.results, async (d) => {
      // One signed batch per flush (docs/V2.md §3): listed item by item.
      const body = d.body as { kind?: string; items?: Json[] };
      if (body.kind !== "batch") return void published.push(d.body);
      for (const item of body.items ?? []) published.push({ kind: "result", ...(item as Record<string, Json>) } as Json);
    });
    worker = new Worker({
      queue,
      logger: createLogger("attack", { level: "silent" }),
      catalog: new RegistryCatalog({ provider: stack.ethers.provider, registry: await stack.registry.getAddress() }),
      requests: new OracleRequestLookup(stack.ethers.provider),
      config: {
        signerKey: randomHash(),
        allowedOracles: [{ chainId: stack.chainId, oracle: await stack.oracle.getAddress() }],
        modelCacheDir: `${tmp.dir}/models`,
        modelSchemes: ["npm"],
        blobStoreUrl: stack.relayer.url, // inputs are uploaded to the relayer's store (its origin is trusted)
        inferenceThread: false,
      },
    });
  }, 120_000);
  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await stack?.close();
    await tmp?.cleanup();
  });

  it("is dead-lettered unsigned; the genuine job for the same request is served", async () => {
    const bytes = encodeTensor(textLineTensor("genuine"));
    const inputHash = hashEncoded(bytes);
    const inputURI = `${stack.relayer.url}/blobs/${inputHash}`;
    expect((await fetch(inputURI, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(bytes) })).status).toBe(201);
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const tx = await stack.oracle.connect(stack.accounts.user).requestInference(
      { modelHash: stack.modelHash, inputHash, input: "0x", inputURI, tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: MODEL_FEE + DEFAULT_PARAMS.minWorkerFee },
    );
    const receipt = (await tx.wait())!;
    const requestId = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    const genuine: Job = {
      kind: "job", chainId: stack.chainId.toString(), oracle: await stack.oracle.getAddress(), requestId, modelHash: stack.modelHash,
      inputHash, input: "0x", inputURI, tier: Tier.NONE, deadline, observedAt: Date.now(),
    };
    const deliver = (body: Job, n: number) => worker.handle({ messageId: `m${n}`, body: body as unknown as Json, deliveryCount: 1 }, new AbortController().signal);

    // The attacker's inputs: one the model cannot take (would be signed "MalformedInput"), one that
    // hashes fine but is not the requester's, and another model.
    const garbage = Buffer.from("not a tensor at all");
    const other = encodeTensor(textLineTensor("forged"));
    const forgeries: Job[] = [
      { ...genuine, inputHash: randomHash(), input: bytesToHex(garbage) },
      { ...genuine, inputHash: hashEncoded(other), input: bytesToHex(other) },
      { ...genuine, modelHash: randomHash() },
      { ...genuine, deadline: deadline - 1 },
    ];
    for (const [i, forged] of forgeries.entries()) {
      const error = await deliver(forged, i).catch((e: unknown) => e);
      expect(isError(error, "MESSAGE_INVALID")).toBe(true);
      expect((error as Error).message).toMatch(/does not match the on-chain request/);
    }
    expect(published).toEqual([]); // nothing signed
    // A request id the oracle does not know: dropped, nothing signed.
    await deliver({ ...genuine, requestId: randomHash() }, 9);
    expect(published).toEqual([]);

    await deliver(genuine, 10);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ kind: "result", requestId, inputHash });
  }, 60_000);
});
