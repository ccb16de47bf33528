/**
 * Metrics and health endpoints on the real local stack: after real requests (results, a signed
 * rejection refunded at once, a dispute the worker wins, settlement) every series the services
 * export exists with the values those requests imply; /readyz flips to not-ready when the chain RPC
 * is unreachable and back when it returns. Every log line about a request names it (requestId, or
 * requestIds on a batch line).
 */
import { openChallenge } from "../../challenger/index.js";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, encodeTensor, QUEUES, shortHash, startMetricsServer, type MetricsServer } from "../../protocol/index.js";
import { InProcessQueue } from "../../queue/index.js";
import { Relayer } from "../../relayer/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";
import { parsePrometheus, select, total, type Sample } from "./prometheus.js";

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parsePrometheus(await res.text());
}

/** A JSON-RPC endpoint over HTTP in front of the in-process chain, which the test can take down. */
async function rpcBridge(stack: LocalStack, port = 0): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const call = JSON.parse(body) as { id: number; method: string; params: unknown[] };
      stack.ethers.provider
        .send(call.method, call.params)
        .then((result: unknown) => res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result })))
        .catch((e: { code?: number; message?: string; data?: unknown }) =>
          res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, error: { code: e.code ?? -32000, message: e.message ?? "error", data: e.data } })),
        );
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe("metrics and health endpoints", () => {
  let stack: LocalStack;
  let workerServer: MetricsServer;
  const ids: string[] = [];
  let refundId = "";
  let disputedId = "";
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    stack = await startLocalStack({ logger: pino({ name: "metrics-test", level: "debug" }, sink) });
    const worker = stack.workers[0]!;
    workerServer = await startMetricsServer({
      registry: worker.metrics.registry,
      port: 0,
      readiness: { queue: async () => ({ jobs: await stack.queue.depth(QUEUES.jobs) }) },
    });

    for (const [text, rotated] of [["metrics one", false], ["metrics two", true], ["metrics three", false]] as const) {
      ids.push(await classify(stack, await uploadBlob(stack, textInput(text, rotated))));
    }
    const wrongShape = encodeTensor({ dtype: "float32", shape: [1, 3, 32, 100], data: new Float32Array(3 * 32 * 100) });
    refundId = await classify(stack, await uploadBlob(stack, wrongShape));
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "submitted") && stateOf(stack, refundId) === "refunded", 60_000, "results and the refund");

    // A dispute the worker wins: challenged, the arbiter rules the result correct, it settles.
    disputedId = ids[0]!;
    const row = stack.relayer.db.getRequest(disputedId)!;
    const submitted = (await stack.ethers.provider.getTransactionReceipt(row.submitTx!))!;
    await (await openChallenge(stack.oracle.connect(stack.accounts.user) as never, await stack.oracle.getAddress(), disputedId, submitted.logs, DEFAULT_PARAMS.challengeBond)).wait();
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, disputedId) === "challenged", 30_000, "the challenge");
    await (await stack.resolver.connect(stack.accounts.arbiter).rule(disputedId, 1 /* Ruling.WorkerRight */)).wait();

    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "fulfilled"), 60_000, "settlement");
  });

  afterAll(async () => {
    await workerServer?.close();
    await stack?.close();
  });

  it("the relayer exports requests, queue depth, transactions, gas, results, disputes, refunds and latencies", async () => {
    const s = await scrape(stack.relayer.url);
    expect(select(s, "oracle_relayer_requests", { state: "fulfilled", service: "relayer" })[0]?.value).toBe(3);
    expect(total(s, "oracle_relayer_requests", { state: "refunded" })).toBe(1);
    expect(total(s, "oracle_relayer_requests", { state: "requested" })).toBe(0);
    expect(select(s, "oracle_relayer_queue_depth", { queue: QUEUES.jobs })).toHaveLength(1);
    expect(total(s, "oracle_relayer_queue_depth", { queue: QUEUES.jobs })).toBe(0);
    expect(total(s, "oracle_relayer_queue_depth", { queue: QUEUES.results })).toBe(0);
    expect(select(s, "oracle_relayer_pending_transactions")).toHaveLength(1);
    expect(total(s, "oracle_relayer_pending_transactions")).toBe(0);
    expect(total(s, "oracle_relayer_pending_replies")).toBe(0);
    expect(total(s, "oracle_relayer_cursor_lag_blocks")).toBeLessThanOrEqual(1);

    // Transactions and gas agree with the receipts the relayer recorded.
    const txs = stack.relayer.transactions;
    for (const action of new Set(txs.map((t) => t.label))) {
      const mine = txs.filter((t) => t.label === action);
      expect(total(s, "oracle_relayer_transactions_total", { action })).toBe(mine.length);
      expect(total(s, "oracle_relayer_gas_used_total", { action })).toBe(Number(mine.reduce((a, t) => a + t.gasUsed, 0n)));
    }
    expect(total(s, "oracle_relayer_gas_used_total", { action: "submitBatch" })).toBeGreaterThan(50_000);
    // A wrong-shape input: the worker's rejection proves the type mismatch, refunded at once (finding 3).
    expect(total(s, "oracle_relayer_transactions_total", { action: "rejectRequestWithProof" })).toBe(1);
    expect(total(s, "oracle_relayer_transaction_items_sum", { action: "settleMany" })).toBe(3);

    expect(total(s, "oracle_relayer_results_submitted_total")).toBe(3);
    expect(total(s, "oracle_relayer_results_skipped_total")).toBe(0);
    expect(total(s, "oracle_refunds_total", { reason: "InputTypeMismatch" })).toBe(1);
    expect(total(s, "oracle_disputes_opened_total")).toBe(1);
    expect(total(s, "oracle_disputes_resolved_total", { winner: "worker", by_default: "false" })).toBe(1);
    expect(total(s, "oracle_disputes_resolved_total", { winner: "challenger" })).toBe(0);

    expect(total(s, "oracle_relayer_submit_seconds_count", { tier: "optimistic" })).toBe(3);
    const submitSum = total(s, "oracle_relayer_submit_seconds_sum");
    expect(submitSum).toBeGreaterThan(0);
    expect(submitSum).toBeLessThan(3 * 60);
    expect(total(s, "oracle_relayer_final_seconds_count", { outcome: "fulfilled" })).toBe(3);
    expect(total(s, "oracle_relayer_final_seconds_count", { outcome: "refunded" })).toBe(1);
    // Histogram buckets are cumulative and end at the count.
    const buckets = select(s, "oracle_relayer_submit_seconds_bucket", { tier: "optimistic" });
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.find((b) => b.labels.le === "+Inf")?.value).toBe(3);

    // Counters only move forward: a second scrape does not count the same events again.
    const again = await scrape(stack.relayer.url);
    expect(total(again, "oracle_relayer_results_submitted_total")).toBe(3);
    expect(total(again, "oracle_disputes_opened_total")).toBe(1);
  });

  it("the worker exports inference latency per model and execution provider, batch sizes and job outcomes", async () => {
    const s = await scrape(workerServer.url);
    const model = shortHash(stack.modelHash);
    const provider = select(s, "oracle_worker_inference_seconds_count", { model })[0]?.labels.provider;
    expect(provider).toBe("cpu");
    expect(total(s, "oracle_worker_inference_seconds_count", { model, provider: "cpu", service: "worker" })).toBe(3);
    const inferSum = total(s, "oracle_worker_inference_seconds_sum", { model });
    expect(inferSum).toBeGreaterThan(0);
    expect(inferSum).toBeLessThan(30);
    expect(total(s, "oracle_worker_job_seconds_sum", { model })).toBeGreaterThanOrEqual(inferSum);
    expect(total(s, "oracle_worker_batch_size_count", { model })).toBe(3);
    expect(total(s, "oracle_worker_batch_size_sum", { model })).toBe(3); // unbatched: one request per run
    expect(total(s, "oracle_worker_jobs_total", { outcome: "result" })).toBe(3);
    expect(total(s, "oracle_worker_jobs_total", { outcome: "rejected" })).toBe(1);
    expect(total(s, "oracle_worker_jobs_in_flight")).toBe(0);

    expect((await fetch(`${workerServer.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${workerServer.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, { ok: boolean }> }).checks.queue?.ok).toBe(true);
    expect((await fetch(`${workerServer.url}/nope`)).status).toBe(404);
  });

  it("puts the request id on every log line about a request", () => {
    const requests = [...ids, refundId];
    const perRequest = ["job published", "reply accepted", "result published", "request rejected", "inference done", "rejection submitted; requester refunded"];
    for (const msg of perRequest) expect(lines.some((l) => l.msg === msg), msg).toBe(true);
    let checked = 0;
    for (const line of lines) {
      const named = new Set<string>([
        ...(typeof line.requestId === "string" ? [line.requestId.toLowerCase()] : []),
        ...(Array.isArray(line.requestIds) ? (line.requestIds as string[]).map((r) => r.toLowerCase()) : []),
      ]);
      if (perRequest.includes(String(line.msg))) expect(named.size, `${String(line.msg)} has a requestId`).toBe(1);
      if (["results submitted", "results settled"].includes(String(line.msg))) expect(named.size, `${String(line.msg)} has requestIds`).toBeGreaterThan(0);
      // A line whose text mentions one of the requests anywhere names it in requestId/requestIds too.
      const text = JSON.stringify(line).toLowerCase();
      for (const id of requests) {
        if (text.includes(id.slice(2))) {
          expect(named.has(id), `log line "${String(line.msg)}" mentions ${id} without naming it`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("/healthz answers and /readyz reports every check on the relayer", async () => {
    const health = await fetch(`${stack.relayer.url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { ok: boolean }).ok).toBe(true);
    const ready = await fetch(`${stack.relayer.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, { ok: boolean }> };
    expect(body.ready).toBe(true);
    expect(Object.keys(body.checks).sort()).toEqual(["chain", "cursor", "queue"]);
  });

  it("/readyz flips to 503 when the chain RPC is unreachable, and back when it returns", async () => {
    let bridge = await rpcBridge(stack);
    const port = bridge.port;
    const provider = new JsonRpcProvider(bridge.url, Network.from(stack.chainId), { staticNetwork: Network.from(stack.chainId), batchMaxCount: 1 });
    const dataDir = mkdtempSync(join(tmpdir(), "metrics-relayer-"));
    const queue = new InProcessQueue();
    const relayer = await Relayer.start({
      provider,
      signer: new Wallet(Wallet.createRandom().privateKey, provider),
      oracleAddress: await stack.oracle.getAddress(),
      queue,
      logger: createLogger("bridge-relayer", { level: "silent" }),
      config: { dataDir, startBlock: stack.deployBlock, pollIntervalMs: 50, api: { port: 0 } },
    });
    try {
      await waitFor(async () => (await fetch(`${relayer.url}/readyz`)).status === 200, 30_000, "the relayer to catch up");

      await bridge.close();
      const down = await fetch(`${relayer.url}/readyz`);
      expect(down.status).toBe(503);
      const report = (await down.json()) as { ready: boolean; checks: Record<string, { ok: boolean; error?: string }> };
      expect(report.ready).toBe(false);
      expect(report.checks.chain?.ok).toBe(false);
      expect(report.checks.chain?.error).toBeTruthy();
      expect(report.checks.queue?.ok).toBe(true);
      // Alive all the same, and /metrics still answers with the last values.
      expect((await fetch(`${relayer.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${relayer.url}/metrics`)).status).toBe(200);

      bridge = await rpcBridge(stack, port);
      await waitFor(async () => (await fetch(`${relayer.url}/readyz`)).status === 200, 30_000, "ready again");
    } finally {
      await relayer.close();
      await queue.close();
      await bridge.close();
      provider.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
