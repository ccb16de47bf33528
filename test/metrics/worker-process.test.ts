/**
 * worker/main.ts as a process with METRICS_PORT: /healthz answers at once, /readyz reports the
 * pinned model loaded and the broker reachable, and a job served over RabbitMQ shows up in
 * /metrics (inference latency for the model on the cpu provider) beside the process metrics.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { QUEUES, hashEncoded, bytesToHex, type Job, type WorkerReply, shortHash } from "../../protocol/index.js";
import { RabbitMqQueue, type Json } from "../../queue/index.js";
import { CLS_MODEL_PATH, CLS_MODEL_URI, sha256File, waitFor } from "../../stack/local-stack.js";
import { textInput } from "../e2e/helpers.js";
import { freePort, startService, type ServiceProcess } from "../faults/processes.js";
import { parsePrometheus, total } from "./prometheus.js";

describe("worker process metrics server", () => {
  const namespace = `metrics.${randomUUID()}.`;
  const oracle = Wallet.createRandom().address;
  const modelHash = sha256File(CLS_MODEL_PATH);
  let dataDir: string;
  let worker: ServiceProcess;
  let queue: RabbitMqQueue;
  let url: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "worker-metrics-"));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    queue = await RabbitMqQueue.connect(inject("rabbitmqUrl"), { connectionName: "metrics-test", namespace });
    worker = startService("worker", "worker/main.ts", {
      RABBITMQ_URL: inject("rabbitmqUrl"),
      RABBITMQ_NAMESPACE: namespace,
      WORKER_SIGNER_KEY: Wallet.createRandom().privateKey,
      WORKER_ALLOWED_ORACLES: JSON.stringify([{ chainId: "31337", oracle }]),
      WORKER_MODEL_CACHE_DIR: join(dataDir, "models"),
      WORKER_MODELS: JSON.stringify([
        { modelHash, uris: [CLS_MODEL_URI], input: { dtype: "float32", shape: [1, 3, 48, 192] }, output: { dtype: "float32", shape: [1, 2] } },
      ]),
      WORKER_INTRA_OP_NUM_THREADS: "1",
      WORKER_MODEL_SCHEMES: "npm", // opt in: the pinned model is an npm: URI
      METRICS_PORT: String(port),
    });
    await worker.waitForLog("worker ready", 100_000);
  });

  afterAll(async () => {
    worker?.kill("SIGTERM");
    await worker?.exited;
    await queue?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers /healthz, turns ready once the pinned model is loaded, and counts a served job", async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 60_000, "the worker to be ready");
    const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: Record<string, { ok: boolean; detail?: { pinned?: number } }> };
    expect(ready.checks.queue?.ok).toBe(true);
    expect(ready.checks.models?.detail?.pinned).toBe(1);

    const replies: WorkerReply[] = [];
    await queue.consume<Json>(QUEUES.results, async (d) => void replies.push(d.body as unknown as WorkerReply));
    const input = textInput("metrics over a broker", false);
    const requestId = bytesToHex(Buffer.from(randomUUID().replaceAll("-", "").padEnd(64, "0"), "hex"));
    const job: Job = {
      kind: "job",
      chainId: "31337",
      oracle,
      requestId,
      modelHash,
      inputHash: hashEncoded(input),
      input: bytesToHex(input),
      inputURI: "",
      tier: 1,
      deadline: Math.floor(Date.now() / 1000) + 600,
      observedAt: Date.now(),
    };
    await queue.publish(QUEUES.jobs, job as unknown as Json, { messageId: requestId });
    await waitFor(() => replies.length === 1, 60_000, "the worker's result");
    // One signed batch per flush of the worker's result batcher (docs/V2.md §3): here a batch of one.
    expect(replies[0]!.kind).toBe("batch");
    expect((replies[0] as Extract<WorkerReply, { kind: "batch" }>).items.map((i) => i.requestId)).toEqual([requestId]);

    const samples = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    expect(total(samples, "oracle_worker_inference_seconds_count", { model: shortHash(modelHash), provider: "cpu" })).toBe(1);
    expect(total(samples, "oracle_worker_jobs_total", { outcome: "result" })).toBe(1);
    // The process metrics that only a service process turns on.
    expect(total(samples, "oracle_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(samples.some((s) => s.name === "oracle_nodejs_eventloop_lag_seconds")).toBe(true);
  });
});
