/**
 * The RabbitMQ transport: the same conformance suite as the in-process queue, plus what only a
 * real broker has (dropped connections, publisher-confirm throughput, broker-side dead letters).
 */
import { randomUUID } from "node:crypto";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import amqp from "amqplib";
import { describe, expect, inject, it } from "vitest";
import { OracleError } from "../../protocol/index.js";
import { DEAD_LETTER_SUFFIX, RabbitMqQueue, type Json } from "../../queue/index.js";
import { rabbitmqctl } from "../setup/rabbitmq.js";
import { queueConformance } from "./conformance.js";

const url = inject("rabbitmqUrl");
const quiet = { logger: undefined, publishTimeoutMs: 20_000 };

queueConformance("rabbitmq", () => RabbitMqQueue.connect(url, quiet));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Closes this queue's broker connection from the broker's side (as a broker restart or a network cut would). */
function dropConnection(queue: RabbitMqQueue): void {
  // On a loaded machine the broker can leave a connection out of one listing (its info query timed out):
  // look again for up to 10 s before calling it missing.
  let lines: string[] = [];
  let line: string | undefined;
  for (const end = Date.now() + 10_000; line === undefined && Date.now() < end; ) {
    lines = rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid", "client_properties").split("\n");
    line = lines.find((l) => l.includes(queue.name));
    if (line === undefined) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
  if (line === undefined) throw new Error(`no broker connection named ${queue.name} in:\n${lines.join("\n")}`);
  const pid = line.split("\t")[0]!.trim();
  rabbitmqctl("close_connection", pid, "test: simulated broker failure");
}

/** A TCP proxy in front of the broker that a test can take down and bring back (a broker outage for one client only). */
async function startProxy(target: URL): Promise<{ url: string; stop(): Promise<void>; start(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {});
        }
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (server === undefined || !server.listening) return resolve();
      server.close(() => resolve());
    });
  await start();
  const u = new URL(target.toString());
  u.port = String(port);
  return { url: u.toString(), start, stop };
}

describe("RabbitMQ transport", () => {
  it("elects one lease holder at a time and hands the lease over when the holder's connection drops or it releases", async () => {
    const name = `test.lease.${randomUUID()}`;
    const queues = await Promise.all([0, 1, 2].map(() => RabbitMqQueue.connect(url, { ...quiet, reconnectDelayMs: { initial: 50, max: 200 } })));
    const held = [false, false, false];
    const changes: string[] = [];
    try {
      const leases = [];
      for (const [i, q] of queues.entries()) {
        leases.push(
          await q.lease(name, (h) => {
            held[i] = h;
            changes.push(`${i}:${h}`);
          }),
        );
        await until(() => held.some(Boolean), 10_000, "a holder");
      }
      const holders = () => held.flatMap((h, i) => (h ? [i] : []));
      expect(holders()).toEqual([0]);
      // The holder's connection is cut by the broker: the lease moves to one of the others.
      const t0 = Date.now();
      dropConnection(queues[0]!);
      await until(() => holders().length === 1 && holders()[0] !== 0, 10_000, "failover");
      const failoverMs = Date.now() - t0;
      const second = holders()[0]!;
      // The old holder reconnects and waits in line: still one holder.
      await until(() => queues[0]!.reconnections >= 1, 10_000, "reconnection");
      await new Promise((r) => setTimeout(r, 300));
      expect(holders()).toEqual([second]);
      // A release hands it on too.
      await leases[second]!.release();
      await until(() => holders().length === 1 && holders()[0] !== second, 10_000, "handover on release");
      expect(holders()).toHaveLength(1);
      console.log(`lease: failover after a dropped connection in ${failoverMs} ms; changes ${changes.join(" ")}`);
    } finally {
      await Promise.all(queues.map((q) => q.close()));
      const admin = await amqp.connect(url);
      const ch = await admin.createChannel();
      await ch.deleteQueue(name).catch(() => undefined);
      await admin.close();
    }
  });

  it("reconnects after the broker drops the connection, losing nothing in flight", async () => {
    const producer = await RabbitMqQueue.connect(url, quiet);
    const consumer = await RabbitMqQueue.connect(url, quiet);
    const n = `test.${randomUUID()}`;
    try {
      const seen = new Map<number, number>();
      const sub = await consumer.consume<Json>(
        n,
        async (d) => {
          const i = (d.body as { i: number }).i;
          seen.set(i, (seen.get(i) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 2));
        },
        { prefetch: 5 },
      );
      const total = 300;
      const publishes: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const p = producer.publish(n, { i }, { messageId: `m${i}` });
        // (Handled at once, so a failure below never leaves hundreds of unhandled rejections behind.)
        p.catch(() => undefined);
        publishes.push(p);
        // Cut both connections while publishes and deliveries are in flight.
        if (i === 100) dropConnection(consumer);
        if (i === 150) dropConnection(producer);
      }
      await Promise.all(publishes);
      await until(() => seen.size === total, 20_000, "every message handled");
      await sub.cancel();
      expect(producer.reconnections).toBeGreaterThanOrEqual(1);
      expect(consumer.reconnections).toBeGreaterThanOrEqual(1);
      // At least once: every message arrived; a few may have come twice (unacked when the connection dropped).
      const duplicates = [...seen.values()].filter((c) => c > 1).length;
      console.log(`reconnection: ${total} messages, all delivered, ${duplicates} redelivered after the drop`);
      expect(duplicates).toBeLessThanOrEqual(20);
      expect(await consumer.depth(n)).toBe(0);
      expect(await consumer.deadLetters(n)).toEqual([]);
    } finally {
      await Promise.all([producer.close(), consumer.close()]);
    }
  });

  it("makes publishes wait through a broker outage, and fails them as retryable when it lasts too long", async () => {
    const proxy = await startProxy(new URL(url));
    const q = await RabbitMqQueue.connect(proxy.url, { publishTimeoutMs: 2_000, reconnectDelayMs: { initial: 50, max: 200 } });
    const n = `test.${randomUUID()}`;
    try {
      await q.publish(n, { before: true });
      await proxy.stop(); // the broker is gone: connection cut, new connections refused
      const during = q.publish(n, { during: true });
      await new Promise((r) => setTimeout(r, 500));
      await proxy.start();
      await during; // confirmed once the connection is back
      expect(q.reconnections).toBeGreaterThanOrEqual(1);
      expect(await q.depth(n)).toBe(2);

      await proxy.stop();
      const started = Date.now();
      const failed = await q.publish(n, { lost: true }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(OracleError);
      expect((failed as OracleError).code).toBe("QUEUE_UNAVAILABLE");
      expect((failed as OracleError).retryable).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_800);
    } finally {
      await q.close();
      await proxy.stop();
    }
    const down = await RabbitMqQueue.connect("amqp://guest:guest@127.0.0.1:1/", { connectTimeoutMs: 300 }).catch((e: unknown) => e);
    expect((down as OracleError).code).toBe("QUEUE_UNAVAILABLE");
    expect((down as OracleError).message).toContain("cannot connect");
  });

  it("publishes with many confirms in flight much faster than one by one (throughput figure)", async () => {
    const q = await RabbitMqQueue.connect(url, quiet);
    const count = 5000;
    try {
      const inFlight = `test.${randomUUID()}`;
      await q.assertQueue(inFlight);
      let t = performance.now();
      await Promise.all(Array.from({ length: count }, (_, i) => q.publish(inFlight, { i })));
      const concurrentRate = count / ((performance.now() - t) / 1000);

      const serial = `test.${randomUUID()}`;
      await q.assertQueue(serial);
      t = performance.now();
      for (let i = 0; i < count; i++) await q.publish(serial, { i });
      const serialRate = count / ((performance.now() - t) / 1000);
      console.log(`publisher confirms, ${count} persistent messages to a quorum queue: ${concurrentRate.toFixed(0)} msg/s in flight, ${serialRate.toFixed(0)} msg/s awaited one by one`);
      expect(await q.depth(inFlight)).toBe(count);
      expect(await q.depth(serial)).toBe(count);
    } finally {
      await q.close();
    }
  });

  it("dead-letters a message whose consumer keeps dying, by the broker's delivery limit, readable like any dead letter", async () => {
    const q = await RabbitMqQueue.connect(url, quiet);
    const n = `test.${randomUUID()}`;
    try {
      await q.assertQueue(n, { maxDeliveries: 2 });
      await q.publish(n, { crash: true }, { messageId: "crashy" });
      // A consumer that takes the message and dies without acking, twice (raw amqplib channels).
      const conn = await amqp.connect(url);
      for (let i = 0; i < 2; i++) {
        const ch = await conn.createChannel();
        const got = await new Promise<amqp.ConsumeMessage>((resolve) => void ch.consume(n, (m) => m && resolve(m)));
        expect(Number(got.properties.headers?.["x-delivery-count"] ?? 0)).toBe(i);
        await ch.close(); // unacked: returned to the queue, delivery count + 1
      }
      await conn.close();
      await until(async () => (await q.depth(n + DEAD_LETTER_SUFFIX)) === 1, 10_000, "broker dead letter");
      const [dead] = await q.deadLetters(n);
      expect(dead).toMatchObject({ messageId: "crashy", body: { crash: true }, deliveryCount: 2 });
      expect(dead!.reason).toMatch(/^BROKER_DELIVERY_LIMIT/);
      // Consuming the dead-letter queue gives the same shape.
      const viaConsume: Json[] = [];
      const sub = await q.consume<Json>(n + DEAD_LETTER_SUFFIX, async (d) => void viaConsume.push(d.body));
      await until(() => viaConsume.length === 1);
      await sub.cancel();
      expect(viaConsume[0]).toEqual(dead);
    } finally {
      await q.close();
    }
  });

  it("fires the handler's AbortSignal on close and waits for the handler", async () => {
    const q = await RabbitMqQueue.connect(url, quiet);
    const n = `test.${randomUUID()}`;
    await q.publish(n, 1);
    let aborted = false;
    let finished = false;
    let started = false;
    await q.consume(n, async (_d, signal) => {
      started = true;
      await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
      aborted = signal.aborted;
      await new Promise((r) => setTimeout(r, 50));
      finished = true;
      throw signal.reason;
    });
    await until(() => started);
    await q.close();
    expect(aborted).toBe(true);
    expect(finished).toBe(true);
    // A handler cut short by close goes back to the queue (not to the dead letters).
    const other = await RabbitMqQueue.connect(url, quiet);
    try {
      await until(async () => (await other.depth(n)) === 1);
      expect(await other.deadLetters(n)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
