/** A worker on an in-process queue for the attack tests: every message it publishes is kept. */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { QUEUES, encodeTensor, hashEncoded, bytesToHex, type Hex, type Job, type Tensor } from "../../protocol/index.js";
import { InProcessQueue, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker, type ModelEntry, type WorkerConfigInput } from "../../worker/index.js";
import { CHAIN_ID, ORACLE, SIGNER_KEY, randomHash, silentLogger, tempDir, waitFor } from "../worker/fixtures.js";

export interface AttackWorker {
  worker: Worker;
  queue: InProcessQueue;
  /** Everything the worker published on the results queue. */
  published: Json[];
  /** Publishes a job and resolves with the worker's reply to it. */
  serve(job: Job, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function attackWorker(models: ModelEntry[], config: Partial<WorkerConfigInput> = {}): Promise<AttackWorker> {
  const tmp = await tempDir();
  const queue = new InProcessQueue();
  const worker = new Worker({
    queue,
    catalog: new StaticCatalog(models),
    logger: silentLogger(),
    config: {
      signerKey: SIGNER_KEY,
      allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
      modelCacheDir: join(tmp.dir, "models"),
      inferenceThread: false,
      ...config,
    },
  });
  const published: Json[] = [];
  await queue.consume<Json>(QUEUES.results, async (d) => {
    // A signed batch (one signature per batch, docs/V2.md §3) is listed item by item, each with its envelope.
    const body = d.body as { kind?: string; items?: Json[] } & Record<string, Json>;
    if (body.kind !== "batch") return void published.push(d.body);
    const { items, kind: _kind, ...envelope } = body;
    for (const item of items ?? []) published.push({ kind: "result", ...(item as Record<string, Json>), ...envelope } as Json);
  });
  await worker.start();
  return {
    worker,
    queue,
    published,
    async serve(job, timeoutMs = 20_000) {
      await queue.publish(QUEUES.jobs, job as unknown as Json);
      return waitFor(() => published.find((m) => (m as { requestId?: string }).requestId === job.requestId) as Record<string, unknown> | undefined, timeoutMs, "the worker's reply");
    },
    async close() {
      await worker.close();
      await queue.close();
      await tmp.cleanup();
    },
  };
}

/** A job for `modelHash`: the input inline, or only its hash with `inputURI`. */
export function attackJob(modelHash: Hex, input: Tensor, inputURI?: string): Job {
  const bytes = encodeTensor(input);
  return {
    kind: "job",
    chainId: CHAIN_ID.toString(),
    oracle: ORACLE,
    requestId: randomHash(),
    modelHash,
    inputHash: hashEncoded(bytes),
    input: inputURI === undefined ? bytesToHex(bytes) : "0x",
    inputURI: inputURI ?? "",
    tier: 0,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    observedAt: Date.now(),
  };
}

export function secretBytes(): Buffer {
  return Buffer.from(`secret-${randomBytes(24).toString("hex")}`);
}
