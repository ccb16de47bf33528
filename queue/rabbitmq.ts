/**
 * The JobQueue on RabbitMQ (amqplib), for relayers and workers on several machines. Same semantics
 * as the in-process queue (types.ts), kept by the broker:
 *
 * - every queue is a durable quorum queue, with a quorum dead-letter queue `<name>.dead` beside it;
 * - publishes go through one ConfirmChannel with any number in flight; each `publish` resolves when
 *   the broker confirms that message (persisted), never by waiting for the others;
 * - each consumer has its own channel and prefetch, and acks manually after its handler returns;
 * - the delivery count comes from the quorum queue's `x-delivery-count` header. A retryable failure
 *   is nacked back to the queue until `maxDeliveries`; then, or at once for a non-retryable failure,
 *   a DeadLetter ({messageId, body, reason, deliveryCount}) is published to `<name>.dead` (confirmed)
 *   and only then is the original acked: a crash in between leaves both, never neither;
 * - the broker's own `x-delivery-limit` (maxDeliveries - 1 returns, so maxDeliveries deliveries in
 *   all) is the safety net for a consumer that dies mid-message every time: the broker then
 *   dead-letters the raw message itself. Read through this class, such a message looks like any
 *   other dead letter, with the reason "BROKER_DELIVERY_LIMIT: ..." (see `readDeadLetter`);
 * - when the connection drops, it reconnects with backoff, re-declares the queues and resumes the
 *   consumers. A publish during the outage waits for the broker (up to `publishTimeoutMs`), then
 *   fails with a retryable TIMEOUT. A publish whose confirm was lost with the connection is sent
 *   again on the new one (at least once: consumers must tolerate duplicates, as they must anyway).
 *
 * Broker content and dead letters are in amqp-content.ts, the per-connection bookkeeping in amqp-state.ts.
 *
 * The class is built in layers: the connection and declarations (amqp-connection.ts), publishing
 * and consuming (amqp-consumers.ts), then leases, inspection and shutdown here.
 */
import { randomUUID } from "node:crypto";
import type { Channel, GetMessage } from "amqplib";
import { OracleError, retry } from "../protocol/index.js";
import { DEAD_LETTER_SUFFIX, type DeadLetter, type JobQueue, type Lease } from "./types.js";
import { readDeadLetter } from "./amqp-content.js";
import { noop, redactAmqpUrl, type Generation, type LeaseState } from "./amqp-state.js";
import { AmqpConsumers } from "./amqp-consumers.js";
import type { RabbitMqQueueOptions } from "./amqp-connection.js";

export { parseContent, readDeadLetter, serializeContent } from "./amqp-content.js";
export { redactAmqpUrl } from "./amqp-state.js";
export type { RabbitMqQueueOptions } from "./amqp-connection.js";

export class RabbitMqQueue extends AmqpConsumers implements JobQueue {
  private constructor(url: string, options: RabbitMqQueueOptions) {
    super(url, options);
  }

  /** Connects (retrying until `connectTimeoutMs`, default 10 s) and returns the queue. */
  static async connect(url: string, options: RabbitMqQueueOptions = {}): Promise<RabbitMqQueue> {
    const queue = new RabbitMqQueue(url, options);
    queue.gen = await retry(() => queue.openGeneration(), {
      attempts: Number.POSITIVE_INFINITY,
      delayMs: (attempt) => queue.backoffMs(attempt),
      until: Date.now() + (options.connectTimeoutMs ?? 10_000),
      giveUp: (error) =>
        new OracleError("QUEUE_UNAVAILABLE", `cannot connect to the broker at ${redactAmqpUrl(url)}`, {
          retryable: true,
          cause: error,
          details: { url: redactAmqpUrl(url), reason: error instanceof Error ? error.message : String(error) },
        }),
    });
    return queue;
  }
  // ---------------------------------------------------------------------------------------------
  // Inspection

  /**
   * Ready messages (from the broker) plus the deliveries this process's consumers hold unacked.
   * AMQP does not report other processes' unacked messages: a queue whose jobs are all in workers'
   * hands elsewhere reads 0 here (`rabbitmqctl list_queues messages` counts them; see OPERATIONS.md).
   */
  async depth(name: string): Promise<number> {
    this.ensureNotClosed();
    const queue = this.ns + name;
    return this.withConnection(async (gen) => {
      // Asking on each local consumer's own channel orders the answer after the deliveries the
      // broker already sent there, so a message is never in neither count.
      const channels = [...this.consumers].filter((c) => c.queue === queue && c.channel !== undefined).map((c) => c.channel!);
      let ready: number;
      if (channels.length > 0) {
        const counts = await Promise.all(channels.map((ch) => ch.checkQueue(queue).then((r) => r.messageCount)));
        ready = Math.min(...counts);
      } else {
        if (!(await this.exists(gen, queue))) return Math.max(0, this.unacked.get(queue) ?? 0);
        const ch = await this.utilityChannel(gen);
        ready = (await ch.checkQueue(queue)).messageCount;
      }
      return ready + Math.max(0, this.unacked.get(queue) ?? 0);
    });
  }

  protected utilityChannel(gen: Generation): Promise<Channel> {
    gen.utility ??= gen.conn.createChannel().then((ch) => {
      ch.on("error", noop);
      ch.on("close", () => {
        gen.utility = undefined;
      });
      return ch;
    });
    gen.utility.catch(() => (gen.utility = undefined));
    return gen.utility;
  }

  /**
   * The dead letters of `queue`, oldest first, left in place (a peek: read unacked, then returned
   * to the dead-letter queue when the reading channel closes). Broker-written ones are normalized
   * by `readDeadLetter`.
   */
  async deadLetters(queue: string): Promise<DeadLetter[]> {
    this.ensureNotClosed();
    const name = this.ns + queue + DEAD_LETTER_SUFFIX;
    return this.withConnection(async (gen) => {
      if (!(await this.exists(gen, name))) return [];
      const ch = await gen.conn.createChannel();
      ch.on("error", noop);
      try {
        const out: DeadLetter[] = [];
        for (;;) {
          const m: GetMessage | false = await ch.get(name, { noAck: false });
          if (m === false) break;
          out.push(readDeadLetter(m));
        }
        return out;
      } finally {
        await ch.close().catch(noop);
      }
    });
  }

  protected ensureNotClosed(): void {
    if (this.state === "closed") throw new OracleError("QUEUE_CLOSED", "the queue is closed");
  }

  // ---------------------------------------------------------------------------------------------
  // Leases (leader election)

  /**
   * Leader election through the broker: every competitor consumes the classic durable queue `name`
   * declared with `x-single-active-consumer`, which holds a token message. The broker delivers only
   * to the single active consumer; the process holding the token unacked leads. When its channel or
   * connection goes (crash, network cut, release), the broker requeues the token and activates the
   * next consumer in line, which receives it and leads. A competitor that finds the queue without a
   * ready message adds a token (the holder acks any extra), so there is always at least one.
   * Failover takes as long as the broker needs to notice the holder is gone: at once for a closed
   * socket, about two heartbeats (`heartbeatSeconds`) for a silent one. A classic queue, because a
   * quorum queue's delivery limit would dead-letter the token after that many failovers.
   */
  async lease(name: string, onChange: (held: boolean) => void): Promise<Lease> {
    this.ensureOpen();
    const l: LeaseState = { queue: this.ns + name, onChange, held: false, released: false, channel: undefined, token: undefined };
    this.leases.add(l);
    await this.withConnection((gen) => this.startLease(gen, l));
    return {
      get held() {
        return l.held;
      },
      release: async () => {
        if (l.released) return;
        l.released = true;
        this.leases.delete(l);
        const ch = l.channel;
        l.channel = undefined;
        l.token = undefined;
        this.setHeld(l, false);
        await ch?.close().catch(noop);
      },
    };
  }

  protected setHeld(l: LeaseState, held: boolean): void {
    if (l.held === held) return;
    l.held = held;
    try {
      l.onChange(held);
    } catch (error) {
      this.logger.error({ err: error, queue: l.queue }, "lease callback failed");
    }
  }

  protected async startLease(gen: Generation, l: LeaseState): Promise<void> {
    if (l.released || gen.lost || l.channel !== undefined) return;
    const ch = await gen.conn.createChannel();
    ch.on("error", noop);
    ch.on("close", () => {
      if (l.channel !== ch) return;
      l.channel = undefined;
      l.token = undefined;
      this.setHeld(l, false);
      // The channel alone went (the connection lives): compete again.
      if (!gen.lost && !l.released && this.state === "open") setTimeout(() => void this.startLease(gen, l).catch(noop), 100);
    });
    const ok = await ch.assertQueue(l.queue, { durable: true, arguments: { "x-single-active-consumer": true } });
    await ch.prefetch(8);
    l.channel = ch;
    await ch.consume(
      l.queue,
      (msg) => {
        if (msg === null) {
          // The broker cancelled the consumer (queue deleted): no longer leading; compete again.
          if (l.channel === ch) void ch.close().catch(noop);
          return;
        }
        if (l.token === undefined && l.channel === ch) {
          l.token = msg;
          this.setHeld(l, true);
        } else {
          ch.ack(msg); // an extra token: one is enough
        }
      },
      { noAck: false },
    );
    if (ok.messageCount === 0) ch.sendToQueue(l.queue, Buffer.from("relayer lease token"), { persistent: true, messageId: `lease-${randomUUID()}` });
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = "closing";
      // Leases first: a follower takes over while this process finishes its work.
      for (const l of [...this.leases]) {
        l.released = true;
        const ch = l.channel;
        l.channel = undefined;
        l.token = undefined;
        this.setHeld(l, false);
        await ch?.close().catch(noop);
      }
      this.leases.clear();
      const consumers = [...this.consumers];
      for (const c of consumers) {
        c.active = false;
        c.controller.abort(new OracleError("QUEUE_CLOSED", "the queue is closing"));
      }
      // Stop deliveries, let running handlers finish (their acks and dead letters still go out),
      // let publishes already under way get their confirms, then close everything.
      const errors: unknown[] = [];
      for (const r of await Promise.allSettled(consumers.map((c) => this.stopConsumer(c)))) if (r.status === "rejected") errors.push(r.reason);
      await Promise.allSettled([...this.publishing]);
      this.state = "closed";
      this.notify();
      this.closeSignal.abort();
      const gen = this.gen;
      this.gen = undefined;
      if (gen !== undefined) {
        gen.lost = true;
        try {
          await gen.conn.close();
        } catch (error) {
          // amqplib's IllegalOperationError: the connection was already closed (or closing).
          if ((error as Error | undefined)?.name !== "IllegalOperationError") errors.push(error);
        }
      }
      await this.reconnecting?.catch(noop);
      if (errors.length > 0) this.logger.warn({ errors: errors.map(String) }, "errors while closing the broker connection");
    })();
    return this.closing;
  }
}
