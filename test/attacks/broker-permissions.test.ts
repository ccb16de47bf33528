/**
 * Issue 13, finding 4 (second half): broker permissions. Anyone who could publish to `oracle.jobs`
 * forged jobs; the documented per-worker permissions did not work as written, and the form that
 * worked let a worker read results and take the relayers' leader lease. Publishing to the default
 * exchange needs only write on `amq.default`, which reaches every queue. Now every publish goes
 * through a direct exchange named after its queue (queue/rabbitmq.ts), so write permissions name
 * queues, and a worker's user (docs/OPERATIONS.md) is:
 *
 *   configure '^$'   write '^oracle\.(results|jobs\.dead)$'   read '^oracle\.jobs$'
 *
 * Tested on the real broker the test run starts, in a vhost of its own: the worker's user consumes
 * jobs, publishes results and dead-letters a bad job; it cannot publish a job (through the jobs
 * exchange or the default one), read results, touch the lease queue, or declare or delete anything.
 */
import { randomBytes, randomUUID } from "node:crypto";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { OracleError, QUEUES } from "../../protocol/index.js";
import { RabbitMqQueue, type Message } from "../../queue/index.js";
import { RELAYER_LEASE_QUEUE } from "../../relayer/index.js";
import { rabbitmqctl } from "../setup/rabbitmq.js";
import { silentLogger } from "../worker/fixtures.js";

const base = new URL(inject("rabbitmqUrl"));
const vhost = `perm-${randomUUID().slice(0, 8)}`;
const user = `worker-${randomUUID().slice(0, 8)}`;
const password = randomBytes(12).toString("hex");
const WORKER_PERMISSIONS = ["^$", "^oracle\\.(results|jobs\\.dead)$", "^oracle\\.jobs$"] as const;

function urlFor(username: string, pass: string): string {
  const u = new URL(base.toString());
  u.username = username;
  u.password = pass;
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

async function until<T>(get: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `op` on a fresh channel of the worker's user; resolves with the broker's refusal code (403), or "allowed". */
async function asWorker(op: (ch: amqp.ConfirmChannel) => Promise<unknown>): Promise<number | "allowed"> {
  const conn = await amqp.connect(urlFor(user, password));
  try {
    const ch = await conn.createConfirmChannel();
    const closed = new Promise<number>((resolve) => ch.on("error", (e: { code?: number }) => resolve(e.code ?? -1)));
    ch.on("close", () => {});
    const outcome = await Promise.race([
      op(ch).then(
        () => "allowed" as const,
        (e: { code?: number }) => e.code ?? -1,
      ),
      closed,
    ]);
    // A publish is refused asynchronously: wait for the channel's fate before calling it allowed.
    if (outcome === "allowed") return await Promise.race([closed, new Promise<"allowed">((r) => setTimeout(() => r("allowed"), 500))]);
    return outcome;
  } finally {
    await conn.close().catch(() => {});
  }
}

describe("attack: a worker's broker user forges jobs, reads results or takes the relayers' lease", () => {
  let relayer: RabbitMqQueue;
  let worker: RabbitMqQueue;
  const results: Message[] = [];
  const jobsSeen: Message[] = [];

  beforeAll(async () => {
    rabbitmqctl("add_vhost", vhost);
    rabbitmqctl("set_permissions", "-p", vhost, base.username || "guest", ".*", ".*", ".*");
    rabbitmqctl("add_user", user, password);
    rabbitmqctl("set_permissions", "-p", vhost, user, ...WORKER_PERMISSIONS);
    // The relayer (full rights on the vhost) declares the queues, their exchanges and the lease queue first.
    relayer = await RabbitMqQueue.connect(urlFor(decodeURIComponent(base.username) || "guest", decodeURIComponent(base.password) || "guest"), { publishTimeoutMs: 10_000, logger: silentLogger() });
    await relayer.assertQueue(QUEUES.jobs);
    await relayer.assertQueue(QUEUES.results);
    await relayer.lease(RELAYER_LEASE_QUEUE, () => {});
    await relayer.consume(QUEUES.results, async (d) => {
      results.push(d.body);
    });
    worker = await RabbitMqQueue.connect(urlFor(user, password), { publishTimeoutMs: 10_000, reconnectDelayMs: { initial: 100, max: 500 }, logger: silentLogger() });
  });
  afterAll(async () => {
    await worker?.close();
    await relayer?.close();
    rabbitmqctl("delete_user", user);
    rabbitmqctl("delete_vhost", vhost);
  });

  it("the worker's user does its job: consumes a job, publishes its result, dead-letters a bad job", async () => {
    await worker.consume(QUEUES.jobs, async (d) => {
      const body = d.body as { requestId: string; bad?: boolean };
      if (body.bad === true) throw new OracleError("MESSAGE_INVALID", "not a job");
      jobsSeen.push(d.body);
      await worker.publish(QUEUES.results, { kind: "result", requestId: body.requestId });
    });
    await relayer.publish(QUEUES.jobs, { kind: "job", requestId: "0x01" });
    const result = await until(() => results.find((r) => (r as { requestId: string }).requestId === "0x01"));
    expect(result).toEqual({ kind: "result", requestId: "0x01" });
    await relayer.publish(QUEUES.jobs, { kind: "job", requestId: "0x02", bad: true });
    const end = Date.now() + 15_000;
    let letters = await relayer.deadLetters(QUEUES.jobs);
    while (letters.length === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      letters = await relayer.deadLetters(QUEUES.jobs);
    }
    expect(letters.map((l) => (l.body as { requestId: string }).requestId)).toEqual(["0x02"]);
  });

  it("the worker cannot publish a job: the queue layer refuses at once (QUEUE_ACCESS_REFUSED, not retried), and no forged job reaches the queue", async () => {
    const t = Date.now();
    const error = await worker.publish(QUEUES.jobs, { kind: "job", requestId: "0xf0" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OracleError);
    expect((error as OracleError).code).toBe("QUEUE_ACCESS_REFUSED");
    expect((error as OracleError).retryable).toBe(false);
    expect(Date.now() - t).toBeLessThan(5_000);
    // Raw AMQP with the same user: neither the jobs exchange nor the default exchange takes it.
    expect(await asWorker(async (ch) => ch.publish(QUEUES.jobs, QUEUES.jobs, Buffer.from('{"kind":"job"}')))).toBe(403);
    expect(await asWorker(async (ch) => ch.publish("", QUEUES.jobs, Buffer.from('{"kind":"job"}')))).toBe(403);
    expect(await asWorker(async (ch) => ch.publish("", QUEUES.results, Buffer.from('{"kind":"result"}')))).toBe(403);
    // The worker's consumer saw only the relayer's jobs.
    await new Promise((r) => setTimeout(r, 300));
    expect(jobsSeen.map((j) => (j as { requestId: string }).requestId)).toEqual(["0x01"]);
    // And it still works after the refusal (the queue reconnected).
    await worker.publish(QUEUES.results, { kind: "result", requestId: "0x03" });
    await until(() => results.find((r) => (r as { requestId: string }).requestId === "0x03"));
  });

  it("the worker cannot read results, take the relayers' lease, or declare, bind or delete anything", async () => {
    const error = await worker.consume(QUEUES.results, async () => {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as OracleError).code).toBe("QUEUE_ACCESS_REFUSED");
    expect(await asWorker((ch) => ch.consume(QUEUES.results, () => {}))).toBe(403);
    expect(await asWorker((ch) => ch.consume(RELAYER_LEASE_QUEUE, () => {}))).toBe(403);
    expect(await asWorker((ch) => ch.get(RELAYER_LEASE_QUEUE))).toBe(403);
    expect(await asWorker((ch) => ch.assertQueue("oracle.mine", { durable: true }))).toBe(403);
    expect(await asWorker((ch) => ch.deleteQueue(QUEUES.jobs))).toBe(403);
    expect(await asWorker((ch) => ch.bindQueue(QUEUES.jobs, "amq.direct", "x"))).toBe(403);
    expect(await asWorker((ch) => ch.assertExchange("oracle.fake", "direct"))).toBe(403);
    // What it may do, for contrast: consume the jobs queue.
    expect(await asWorker((ch) => ch.consume(QUEUES.jobs, () => {}))).toBe("allowed");
  });
});
