/**
 * A worker serves one request of a redundant job's group and passes the siblings on (worker/groups.ts), so
 * the job's k answers come from k distinct workers: real workers (onnxruntime, the PP-OCR classifier) on the
 * in-process queue. Worker A serves the first request of a group and passes the second on; worker B, started
 * next, serves the passed-on sibling; a job without a group and a redelivered request are served as before.
 */
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QUEUES,
  encodeTensor,
  hashEncoded,
  bytesToHex,
  type Job,
  type BatchItem,
  type ResultBatchMessage,
  WorkerMetrics,
  createLogger,
} from "../../protocol/index.js";
import { InProcessQueue } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI, randomHash, tempDir, waitFor } from "./fixtures.js";

describe("worker: siblings of a redundant job go to distinct workers", () => {
  const chainId = 31337n;
  const oracle = Wallet.createRandom().address;
  const keys = [Wallet.createRandom(), Wallet.createRandom()];
  const metrics = [new WorkerMetrics(), new WorkerMetrics()];
  const results: Array<BatchItem & { signer: string }> = [];
  const workers: Worker[] = [];
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let queue: InProcessQueue;

  const startWorker = async (i: number) => {
    const w = new Worker({
      queue,
      logger: createLogger("worker", { level: "error" }),
      metrics: metrics[i]!,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      config: { signerKey: keys[i]!.privateKey, allowedOracles: [{ chainId, oracle }], modelCacheDir: `${tmp.dir}/models-${i}`, modelSchemes: ["npm"] },
    });
    await w.start();
    workers.push(w);
  };
  const passedOn = async (i: number) => Number(/oracle_worker_jobs_total\{outcome="passed_on"[^}]*\} (\d+)/.exec(await metrics[i]!.registry.metrics())?.[1] ?? 0);
  const job = (group?: string): Job => {
    const bytes = encodeTensor(textLineTensor("Twice"));
    return {
      kind: "job", chainId: chainId.toString(), oracle, requestId: randomHash(), modelHash: CLS_HASH, inputHash: hashEncoded(bytes),
      input: bytesToHex(bytes), inputURI: "", tier: 1, deadline: Math.floor(Date.now() / 1000) + 3600, observedAt: Date.now(),
      ...(group === undefined ? {} : { group }),
    };
  };
  const resultOf = (j: Job) => waitFor(() => results.find((r) => r.requestId === j.requestId), 60_000, `the result of ${j.requestId}`);

  beforeAll(async () => {
    tmp = await tempDir();
    queue = new InProcessQueue();
    await queue.consume<ResultBatchMessage>(QUEUES.results, async (d) => {
      if (d.body.kind === "batch") for (const item of d.body.items) results.push({ ...item, signer: d.body.signer });
    });
    await startWorker(0);
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.close();
    await queue?.close();
    await tmp?.cleanup();
  });

  it("test_sibling_passedOn_servedByAnotherWorker", async () => {
    const group = randomHash();
    const first = job(group);
    await queue.publish(QUEUES.jobs, first as never);
    expect((await resultOf(first)).signer.toLowerCase()).toBe(keys[0]!.address.toLowerCase());
    // The sibling: worker A passes it on (again and again while it is the only worker) and signs nothing.
    const sibling = job(group);
    await queue.publish(QUEUES.jobs, sibling as never);
    await waitFor(async () => ((await passedOn(0)) >= 2 ? true : undefined), 15_000, "the sibling to be passed on twice");
    expect(results.find((r) => r.requestId === sibling.requestId)).toBeUndefined();
    // Worker B joins: it serves the sibling; the group's two answers come from two workers.
    await startWorker(1);
    expect((await resultOf(sibling)).signer.toLowerCase()).toBe(keys[1]!.address.toLowerCase());
  }, 120_000);

  it("test_noGroup_andSameRequestAgain_served", async () => {
    const before = await passedOn(0) + await passedOn(1);
    const plain = [job(), job()];
    for (const j of plain) await queue.publish(QUEUES.jobs, j as never);
    for (const j of plain) await resultOf(j);
    // A redelivered request of a group (the same request id, by whichever worker gets it) is served again, not passed on.
    const j = job(randomHash());
    await queue.publish(QUEUES.jobs, j as never);
    await resultOf(j);
    const again = results.length;
    await queue.publish(QUEUES.jobs, j as never);
    await waitFor(() => (results.length > again ? true : undefined), 60_000, "the redelivered request's result");
    expect(results.filter((r) => r.requestId === j.requestId)).toHaveLength(2);
    expect(await passedOn(0) + await passedOn(1)).toBe(before);
  }, 120_000);
});
