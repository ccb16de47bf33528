/**
 * The JobQueue conformance suite: every transport (in-process, RabbitMQ) must pass it unchanged.
 * `make` returns a fresh queue; each test uses its own queue names.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { OracleError } from "../../protocol/index.js";
import { DEAD_LETTER_SUFFIX, type DeadLetter, type Delivery, type JobQueue, type Json, type Message } from "../../queue/index.js";

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function drain(queue: JobQueue, name: string): Promise<Message[]> {
  const got: Message[] = [];
  const sub = await queue.consume<Message>(name, async (d) => void got.push(d.body), { prefetch: 10 });
  await until(async () => (await queue.depth(name)) === 0);
  await sub.cancel();
  return got;
}

export function queueConformance(label: string, make: () => Promise<JobQueue>): void {
  describe(`JobQueue conformance: ${label}`, () => {
    const open: JobQueue[] = [];
    const fresh = async () => {
      const q = await make();
      open.push(q);
      return q;
    };
    const name = () => `test.${randomUUID()}`;
    afterEach(async () => {
      await Promise.all(open.splice(0).map((q) => q.close()));
    });

    it("delivers each message once, in order, with its id", async () => {
      const q = await fresh();
      const n = name();
      for (let i = 0; i < 20; i++) await q.publish(n, { i }, { messageId: `m${i}` });
      const seen: Delivery<Json>[] = [];
      const sub = await q.consume<Json>(n, async (d) => void seen.push(d), { prefetch: 1 });
      await until(() => seen.length === 20);
      await sub.cancel();
      expect(seen.map((d) => (d.body as { i: number }).i)).toEqual([...Array(20).keys()]);
      expect(seen.map((d) => d.messageId)).toEqual([...Array(20).keys()].map((i) => `m${i}`));
      expect(seen.every((d) => d.deliveryCount === 1)).toBe(true);
      expect(await q.depth(n)).toBe(0);
    });

    it("redelivers after a retryable failure, then dead-letters at the delivery limit", async () => {
      const q = await fresh();
      const n = name();
      await q.assertQueue(n, { maxDeliveries: 3 });
      await q.publish(n, { flaky: true }, { messageId: "flaky" });
      await q.publish(n, { poison: true }, { messageId: "poison" });
      const attempts = new Map<string, number>();
      const sub = await q.consume<Json>(n, async (d) => {
        attempts.set(d.messageId, d.deliveryCount);
        if ((d.body as { poison?: boolean }).poison) throw new Error("always fails");
        if (d.deliveryCount < 2) throw new OracleError("TIMEOUT", "transient", { retryable: true });
      });
      await until(() => attempts.get("poison") === 3 && attempts.get("flaky") === 2);
      await until(async () => (await q.depth(n + DEAD_LETTER_SUFFIX)) === 1);
      await sub.cancel();
      const dead = (await drain(q, n + DEAD_LETTER_SUFFIX)) as unknown as DeadLetter[];
      expect(dead).toHaveLength(1);
      expect(dead[0]!.messageId).toBe("poison");
      expect(dead[0]!.reason).toContain("always fails");
      expect(dead[0]!.deliveryCount).toBe(3);
    });

    it("carries byte fields as bytes (binary envelope) through delivery, redelivery and dead-lettering", async () => {
      const q = await fresh();
      const n = name();
      await q.assertQueue(n, { maxDeliveries: 2 });
      const tensor = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
      await q.publish(n, { kind: "job", input: tensor, nested: [{ empty: new Uint8Array(0), tail: Buffer.from([1, 2, 3]) }] }, { messageId: "bin" });
      const seen: Delivery<Message>[] = [];
      const sub = await q.consume(n, async (d) => {
        seen.push(d);
        throw new OracleError("TIMEOUT", "transient", { retryable: true });
      });
      await until(async () => (await q.depth(n + DEAD_LETTER_SUFFIX)) === 1);
      await sub.cancel();
      expect(seen.map((d) => d.deliveryCount)).toEqual([1, 2]);
      for (const d of seen) {
        const body = d.body as { kind: string; input: Uint8Array; nested: { empty: Uint8Array; tail: Uint8Array }[] };
        expect(body.kind).toBe("job");
        expect(body.input).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(body.input).equals(tensor)).toBe(true);
        expect(body.nested[0]!.empty.byteLength).toBe(0);
        expect([...body.nested[0]!.tail]).toEqual([1, 2, 3]);
      }
      const dead = (await drain(q, n + DEAD_LETTER_SUFFIX)) as unknown as DeadLetter<{ input: Uint8Array }>[];
      expect(dead[0]!.messageId).toBe("bin");
      expect(dead[0]!.reason).toContain("transient");
      expect(Buffer.from(dead[0]!.body.input).equals(tensor)).toBe(true);
    });

    it("dead-letters a non-retryable failure at once", async () => {
      const q = await fresh();
      const n = name();
      await q.publish(n, { bad: 1 }, { messageId: "bad" });
      let calls = 0;
      const sub = await q.consume<Json>(n, async () => {
        calls++;
        throw new OracleError("TENSOR_MALFORMED", "not a tensor");
      });
      await until(async () => (await q.depth(n + DEAD_LETTER_SUFFIX)) === 1);
      await sub.cancel();
      expect(calls).toBe(1);
      const dead = (await drain(q, n + DEAD_LETTER_SUFFIX)) as unknown as DeadLetter[];
      expect(dead[0]!.reason).toContain("TENSOR_MALFORMED");
    });

    it("bounds unacknowledged messages by prefetch and shares work between consumers", async () => {
      const q = await fresh();
      const n = name();
      for (let i = 0; i < 12; i++) await q.publish(n, i);
      let inFlight = 0;
      let peak = 0;
      const byConsumer = [0, 0];
      const handler = (c: number) => async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        byConsumer[c]!++;
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
      };
      const a = await q.consume(n, handler(0), { prefetch: 2 });
      const b = await q.consume(n, handler(1), { prefetch: 2 });
      await until(() => byConsumer[0]! + byConsumer[1]! === 12 && inFlight === 0);
      await Promise.all([a.cancel(), b.cancel()]);
      expect(peak).toBeLessThanOrEqual(4);
      expect(byConsumer[0]).toBeGreaterThan(0);
      expect(byConsumer[1]).toBeGreaterThan(0);
    });

    it("keeps unacknowledged messages for the next consumer when one cancels", async () => {
      const q = await fresh();
      const n = name();
      for (let i = 0; i < 5; i++) await q.publish(n, i);
      let handled = 0;
      const first = await q.consume(n, async () => {
        handled++;
        await new Promise((r) => setTimeout(r, 10));
      });
      await until(() => handled >= 1);
      await first.cancel();
      const rest = await drain(q, n);
      expect(handled + rest.length).toBe(5);
    });

    it("confirms many publishes in flight at once, each message delivered", async () => {
      const q = await fresh();
      const n = name();
      await Promise.all(Array.from({ length: 500 }, (_, i) => q.publish(n, { i }, { messageId: `m${i}` })));
      expect(await q.depth(n)).toBe(500);
      const got = (await drain(q, n)) as { i: number }[];
      expect(new Set(got.map((b) => b.i)).size).toBe(500);
    });

    it("refuses to publish after close, and close is idempotent", async () => {
      const q = await fresh();
      await q.close();
      await q.close();
      await expect(q.publish(name(), 1)).rejects.toThrow(/closed/);
    });
  });
}
