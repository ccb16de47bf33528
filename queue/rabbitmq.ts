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
 */
import { randomUUID } from "node:crypto";
import amqp from "amqplib";
import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage } from "amqplib";
import { isEnvelope } from "../protocol/envelope.js";
import { OracleError, isRetryable } from "../protocol/errors.js";
import { createLogger, type Logger } from "../protocol/logger.js";
import {
  DEAD_LETTER_SUFFIX,
  DEFAULT_MAX_DELIVERIES,
  type ConsumeOptions,
  type DeadLetter,
  type Delivery,
  type Handler,
  type Message,
  type JobQueue,
  type Lease,
  type QueueOptions,
  type Subscription,
} from "./types.js";
import { DEAD_LETTER_HEADER, MAX_DELIVERIES_HEADER, parseContent, quorumArgs, readDeadLetter, serializeContent } from "./amqp-content.js";
import { ConnectionLost, Nacked, accessRefused, amqpCode, noop, redactAmqpUrl, sleep, type ConsumerState, type Generation, type LeaseState, type OpenDelivery, type PendingPublish } from "./amqp-state.js";

export { parseContent, readDeadLetter, serializeContent } from "./amqp-content.js";
export { redactAmqpUrl } from "./amqp-state.js";

export interface RabbitMqQueueOptions {
  logger?: Logger;
  /** Shown by `rabbitmqctl list_connections client_properties` (connection_name). */
  connectionName?: string;
  /** How long `connect` keeps trying before it gives up (ms). */
  connectTimeoutMs?: number;
  /** How long a publish (or a new consumer) waits for an unreachable broker before a retryable TIMEOUT (ms). */
  publishTimeoutMs?: number;
  /** Reconnection backoff: first delay, doubled per failed attempt up to the maximum (ms), with jitter. */
  reconnectDelayMs?: { initial?: number; max?: number };
  /** AMQP heartbeat (s): a silently dead TCP connection is noticed after about twice this. */
  heartbeatSeconds?: number;
  /**
   * Prefix of every queue name on the broker ("staging." makes oracle.jobs "staging.oracle.jobs"),
   * so several deployments or test runs can share one broker. Every party of one deployment must use the same.
   */
  namespace?: string;
}

export class RabbitMqQueue implements JobQueue {
  private readonly logger: Logger;
  private readonly publishTimeoutMs: number;
  private readonly reconnectInitialMs: number;
  private readonly reconnectMaxMs: number;
  private readonly connectionName: string;
  private readonly ns: string;
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;
  private gen: Generation | undefined;
  private generations = 0;
  private reconnecting: Promise<void> | undefined;
  private wakeReconnect: (() => void) | undefined;
  private readonly waiters = new Set<() => void>();
  /** maxDeliveries this process declared explicitly, re-declared after every reconnection. */
  private readonly explicit = new Map<string, number>();
  private readonly consumers = new Set<ConsumerState>();
  private readonly unacked = new Map<string, number>();
  private readonly publishing = new Set<Promise<void>>();
  private readonly leases = new Set<LeaseState>();
  /** Times the connection was re-established (for tests and metrics). */
  reconnections = 0;

  private constructor(
    private readonly url: string,
    options: RabbitMqQueueOptions,
  ) {
    this.logger = options.logger ?? createLogger("queue", { level: "warn" });
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.reconnectInitialMs = options.reconnectDelayMs?.initial ?? 100;
    this.reconnectMaxMs = options.reconnectDelayMs?.max ?? 5_000;
    this.connectionName = options.connectionName ?? `oracle-${randomUUID()}`;
    this.ns = options.namespace ?? "";
    const u = new URL(url);
    if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", String(options.heartbeatSeconds ?? 10));
    this.url = u.toString();
  }

  /** Connects (retrying until `connectTimeoutMs`, default 10 s) and returns the queue. */
  static async connect(url: string, options: RabbitMqQueueOptions = {}): Promise<RabbitMqQueue> {
    const queue = new RabbitMqQueue(url, options);
    const deadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
    let delay = queue.reconnectInitialMs;
    for (;;) {
      try {
        queue.gen = await queue.openGeneration();
        return queue;
      } catch (error) {
        if (Date.now() + delay > deadline) {
          throw new OracleError("QUEUE_UNAVAILABLE", `cannot connect to the broker at ${redactAmqpUrl(url)}`, {
            retryable: true,
            cause: error,
            details: { url: redactAmqpUrl(url), reason: error instanceof Error ? error.message : String(error) },
          });
        }
        await sleep(delay);
        delay = Math.min(queue.reconnectMaxMs, delay * 2);
      }
    }
  }

  get name(): string {
    return this.connectionName;
  }

  // ---------------------------------------------------------------------------------------------
  // Connection lifecycle

  private async openGeneration(): Promise<Generation> {
    const conn = await amqp.connect(this.url, { clientProperties: { connection_name: this.connectionName }, timeout: 5_000 });
    let publisher: ConfirmChannel;
    try {
      publisher = await conn.createConfirmChannel();
    } catch (error) {
      await conn.close().catch(noop);
      throw error;
    }
    const gen: Generation = {
      id: ++this.generations,
      conn,
      publisher,
      lost: false,
      declared: new Set(),
      declaring: new Map(),
      pending: new Set(),
      drain: undefined,
      utility: undefined,
    };
    conn.on("error", (error: Error) => this.logger.warn({ err: error.message, generation: gen.id }, "broker connection error"));
    conn.on("close", (error?: Error) => this.markLost(gen, error ?? new Error("connection closed")));
    conn.on("blocked", (reason: string) => this.logger.warn({ reason }, "the broker blocked publishing (resource alarm)"));
    conn.on("unblocked", () => this.logger.info("the broker unblocked publishing"));
    publisher.on("error", (error: Error) => {
      gen.refused ??= accessRefused(error);
      this.logger.warn({ err: error.message }, "publisher channel error");
    });
    // The publisher channel is the connection's lifeline: if it goes, start over with a new connection.
    publisher.on("close", () => this.markLost(gen, new Error("publisher channel closed")));
    publisher.on("drain", () => {
      const d = gen.drain;
      gen.drain = undefined;
      d?.resolve();
    });
    try {
      for (const [name, maxDeliveries] of this.explicit) await this.declare(gen, name, maxDeliveries);
    } catch (error) {
      this.markLost(gen, error);
      throw error;
    }
    return gen;
  }

  /** Forgets a generation whose connection or publisher channel died, and starts reconnecting. */
  private markLost(gen: Generation, error: unknown): void {
    if (gen.lost) return;
    gen.lost = true;
    if (this.gen === gen) this.gen = undefined;
    const lost = gen.refused ?? new ConnectionLost(error);
    for (const p of [...gen.pending]) p.fail(lost);
    gen.drain?.resolve();
    for (const c of this.consumers) {
      // Unacked deliveries on a dead channel are back in the queue: they are no longer ours.
      this.releaseOpen(c);
      c.channel = undefined;
      c.tag = undefined;
    }
    // A lease's token went back to the broker with the connection: another process may hold it now.
    for (const l of this.leases) {
      l.channel = undefined;
      l.token = undefined;
      this.setHeld(l, false);
    }
    void gen.conn.close().catch(noop);
    if (this.state === "closed") return;
    this.logger.warn({ err: error instanceof Error ? error.message : String(error), generation: gen.id }, "lost the broker connection; reconnecting");
    this.reconnect();
  }

  private reconnect(): void {
    if (this.reconnecting !== undefined || this.state === "closed") return;
    this.reconnecting = (async () => {
      let delay = this.reconnectInitialMs;
      while (this.state !== "closed") {
        try {
          const gen = await this.openGeneration();
          if (this.isClosed()) {
            gen.lost = true;
            await gen.conn.close().catch(noop);
            return;
          }
          this.gen = gen;
          this.reconnections += 1;
          this.notify();
          for (const c of this.consumers) if (c.active) void this.startConsumer(gen, c).catch(noop);
          for (const l of this.leases) if (!l.released) void this.startLease(gen, l).catch(noop);
          this.logger.info({ generation: gen.id }, "reconnected to the broker");
          return;
        } catch (error) {
          this.logger.warn({ err: error instanceof Error ? error.message : String(error), retryInMs: delay }, "broker reconnection failed");
          await new Promise<void>((r) => {
            const t = setTimeout(r, delay * (0.75 + Math.random() / 2));
            this.wakeReconnect = () => {
              clearTimeout(t);
              r();
            };
          });
          this.wakeReconnect = undefined;
          delay = Math.min(this.reconnectMaxMs, delay * 2);
        }
      }
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** The live connection, waiting for a reconnection up to `deadline`. */
  private async generation(deadline: number): Promise<Generation> {
    for (;;) {
      if (this.state === "closed") throw new OracleError("QUEUE_CLOSED", "the queue is closed");
      const g = this.gen;
      if (g !== undefined && !g.lost) return g;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new OracleError("QUEUE_UNAVAILABLE", "the broker is unreachable", { retryable: true, details: { url: redactAmqpUrl(this.url) } });
      }
      await new Promise<void>((r) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          r();
        }
        this.waiters.add(done);
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Declarations

  async assertQueue(queue: string, options: QueueOptions = {}): Promise<void> {
    this.ensureOpen();
    const name = this.ns + queue;
    if (options.maxDeliveries !== undefined) this.explicit.set(name, options.maxDeliveries);
    await this.withConnection(async (gen) => {
      if (options.maxDeliveries !== undefined) {
        await this.declare(gen, name, options.maxDeliveries);
        gen.declared.add(name);
      } else {
        await this.ensureDeclared(gen, name);
      }
    });
  }

  /** Declares `name` once per connection (with this process's settings, or leaves an existing queue as it is). */
  private ensureDeclared(gen: Generation, name: string): Promise<void> {
    if (gen.declared.has(name)) return Promise.resolve();
    let p = gen.declaring.get(name);
    if (p === undefined) {
      p = this.declare(gen, name, this.explicit.get(name)).then(
        () => {
          gen.declared.add(name);
          gen.declaring.delete(name);
        },
        (error: unknown) => {
          gen.declaring.delete(name);
          throw error;
        },
      );
      gen.declaring.set(name, p);
    }
    return p;
  }

  /**
   * Declares the queue and its dead-letter queue, each with a durable direct exchange of the same
   * name bound to it: every publish goes through that exchange, never the default one, so a broker
   * user's write permission decides which queues it may publish to (the default exchange would let
   * anyone with write on `amq.default` reach every queue: a worker could forge jobs). With no
   * explicit maxDeliveries an existing queue is left as it is (the broker refuses to redeclare a
   * queue with other arguments, and whoever created it chose its limit); a missing one gets the
   * default. Declaring needs the configure permission; a party without it (a worker) only checks,
   * passively, that what it uses exists: whoever has it (the relayer) declares first.
   */
  private async declare(gen: Generation, name: string, maxDeliveries: number | undefined): Promise<void> {
    const names = name.endsWith(DEAD_LETTER_SUFFIX) ? [name] : [name + DEAD_LETTER_SUFFIX, name];
    for (const q of names) {
      const isMain = q === name && !name.endsWith(DEAD_LETTER_SUFFIX);
      const explicit = isMain && maxDeliveries !== undefined;
      const queueExists = !explicit && (await this.exists(gen, q));
      if (queueExists && (await this.exists(gen, q, "exchange"))) continue;
      const ch = await gen.conn.createChannel();
      ch.on("error", noop);
      try {
        if (!queueExists) await ch.assertQueue(q, { durable: true, arguments: quorumArgs(q, maxDeliveries ?? DEFAULT_MAX_DELIVERIES) });
        await ch.assertExchange(q, "direct", { durable: true });
        await ch.bindQueue(q, q, q);
      } catch (error) {
        if (amqpCode(error) === 406) {
          throw new OracleError("CONFIG_INVALID", `queue ${q} already exists with other settings (maxDeliveries differs?)`, {
            cause: error,
            details: { queue: q, maxDeliveries: maxDeliveries ?? DEFAULT_MAX_DELIVERIES },
          });
        }
        throw error;
      } finally {
        await ch.close().catch(noop);
      }
    }
  }

  private async exists(gen: Generation, name: string, kind: "queue" | "exchange" = "queue"): Promise<boolean> {
    const ch = await gen.conn.createChannel();
    ch.on("error", noop);
    try {
      if (kind === "queue") await ch.checkQueue(name);
      else await ch.checkExchange(name);
      return true;
    } catch (error) {
      if (amqpCode(error) === 404) return false;
      throw error;
    } finally {
      await ch.close().catch(noop);
    }
  }

  /** Runs `op` on the live connection; a connection lost under it is retried on the next one until the deadline. */
  private async withConnection<T>(op: (gen: Generation) => Promise<T>, deadline = Date.now() + this.publishTimeoutMs): Promise<T> {
    for (;;) {
      const gen = await this.generation(deadline);
      try {
        return await op(gen);
      } catch (error) {
        if (error instanceof OracleError) throw error;
        // The broker refused this user the resource: no retry can change that.
        const refused = accessRefused(error) ?? gen.refused;
        if (refused !== undefined) throw refused;
        if (error instanceof Nacked) {
          await sleep(100);
          continue;
        }
        // Anything else is amqplib reporting a channel or connection that died under us.
        if (!gen.lost) {
          this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "broker operation failed; treating the connection as lost");
          this.markLost(gen, error);
        }
        if (Date.now() >= deadline) {
          throw new OracleError("QUEUE_UNAVAILABLE", "the broker is unreachable", { retryable: true, cause: error });
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Publishing

  private ensureOpen(): void {
    if (this.state !== "open") throw new OracleError("QUEUE_CLOSED", "the queue is closed");
  }

  async publish(name: string, body: Message, options: { messageId?: string } = {}): Promise<void> {
    this.ensureOpen();
    const queue = this.ns + name;
    const { content, contentType } = serializeContent(body);
    const p = this.send(queue, content, {
      contentType,
      messageId: options.messageId ?? randomUUID(),
      headers: { [MAX_DELIVERIES_HEADER]: this.explicit.get(queue) ?? DEFAULT_MAX_DELIVERIES },
    });
    this.publishing.add(p);
    try {
      await p;
    } finally {
      this.publishing.delete(p);
    }
  }

  private send(queue: string, content: Buffer, properties: { messageId: string; contentType: string; headers: Record<string, unknown> }): Promise<void> {
    const deadline = Date.now() + this.publishTimeoutMs;
    return this.withConnection(async (gen) => {
      await this.ensureDeclared(gen, queue);
      await this.confirmedPublish(gen, queue, content, properties, deadline);
    }, deadline);
  }

  /** One publish on the confirm channel; resolves on its own confirm, whatever else is in flight. */
  private async confirmedPublish(
    gen: Generation,
    queue: string,
    content: Buffer,
    properties: { messageId: string; headers: Record<string, unknown> },
    deadline: number,
  ): Promise<void> {
    while (gen.drain !== undefined && !gen.lost) await gen.drain.promise;
    if (gen.lost) throw new ConnectionLost(undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => pending.fail(new OracleError("TIMEOUT", "no publisher confirm from the broker in time", { retryable: true, details: { queue } })),
        Math.max(1, deadline - Date.now()),
      );
      const pending: PendingPublish = {
        fail: (error) => {
          clearTimeout(timer);
          gen.pending.delete(pending);
          reject(error);
        },
      };
      gen.pending.add(pending);
      try {
        // Through the queue's own exchange (see declare): the user's write permission on it is checked.
        const ok = gen.publisher.publish(
          queue,
          queue,
          content,
          { ...properties, persistent: true },
          (error: unknown) => {
            if (!gen.pending.has(pending)) return;
            clearTimeout(timer);
            gen.pending.delete(pending);
            if (error === null || error === undefined) resolve();
            else if ((error as Error).message === "message nacked") reject(new Nacked("the broker nacked the message"));
            else reject(new ConnectionLost(error));
          },
        );
        if (!ok && gen.drain === undefined) {
          let release!: () => void;
          const promise = new Promise<void>((r) => (release = r));
          gen.drain = { promise, resolve: release };
        }
      } catch (error) {
        pending.fail(new ConnectionLost(error));
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Consuming

  async consume<T extends Message>(name: string, handler: Handler<T>, options: ConsumeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    const consumer: ConsumerState = {
      queue: this.ns + name,
      handler: handler as Handler<Message>,
      prefetch: Math.max(1, options.prefetch ?? 1),
      controller: new AbortController(),
      active: true,
      channel: undefined,
      tag: undefined,
      starting: undefined,
      inFlight: new Set(),
      open: new Set(),
    };
    this.consumers.add(consumer);
    try {
      await this.withConnection((gen) => this.startConsumer(gen, consumer));
    } catch (error) {
      consumer.active = false;
      this.consumers.delete(consumer);
      throw error;
    }
    let cancelled: Promise<void> | undefined;
    return {
      cancel: () => {
        cancelled ??= this.stopConsumer(consumer);
        return cancelled;
      },
    };
  }

  private startConsumer(gen: Generation, c: ConsumerState): Promise<void> {
    c.starting ??= this.subscribe(gen, c).finally(() => {
      c.starting = undefined;
    });
    return c.starting;
  }

  private async subscribe(gen: Generation, c: ConsumerState): Promise<void> {
    if (c.channel !== undefined) return;
    await this.ensureDeclared(gen, c.queue);
    const ch = await gen.conn.createChannel();
    ch.on("error", (error: Error) => this.logger.warn({ err: error.message, queue: c.queue }, "consumer channel error"));
    ch.on("close", () => {
      if (c.channel !== ch) return;
      this.releaseOpen(c);
      c.channel = undefined;
      c.tag = undefined;
      // The channel went alone (consumer_timeout, queue deleted) while the connection lives: resubscribe.
      if (c.active && !gen.lost && this.state === "open") {
        setTimeout(() => {
          if (c.active && !gen.lost && this.gen === gen) void this.startConsumer(gen, c).catch(noop);
        }, 200);
      }
    });
    c.channel = ch;
    try {
      await ch.prefetch(c.prefetch, false);
      const { consumerTag } = await ch.consume(c.queue, (msg) => this.onMessage(c, ch, msg), { noAck: false });
      c.tag = consumerTag;
    } catch (error) {
      if (c.channel === ch) c.channel = undefined;
      await ch.close().catch(noop);
      throw error;
    }
    if (!c.active) await ch.close().catch(noop);
  }

  private onMessage(c: ConsumerState, ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (its queue was deleted): the close handler resubscribes.
      this.logger.warn({ queue: c.queue }, "the broker cancelled a consumer");
      void ch.close().catch(noop);
      return;
    }
    // A cancelled consumer leaves late deliveries unacked: they return to the queue with its channel.
    if (!c.active || c.channel !== ch) return;
    const open: OpenDelivery = { settled: false };
    c.open.add(open);
    this.unacked.set(c.queue, (this.unacked.get(c.queue) ?? 0) + 1);
    const run = this.handle(c, ch, msg, open).catch((error: unknown) => {
      this.logger.error({ err: error instanceof Error ? error.message : String(error), queue: c.queue }, "delivery handling failed");
    });
    c.inFlight.add(run);
    void run.finally(() => c.inFlight.delete(run));
  }

  private async handle(c: ConsumerState, ch: Channel, msg: ConsumeMessage, open: OpenDelivery): Promise<void> {
    const headers = msg.properties.headers ?? {};
    const deliveryCount = Number(headers["x-delivery-count"] ?? 0) + 1;
    const messageId = typeof msg.properties.messageId === "string" ? msg.properties.messageId : "";
    let body: Message;
    let error: unknown;
    let ok = false;
    try {
      body = c.queue.endsWith(DEAD_LETTER_SUFFIX) ? (readDeadLetter(msg) as unknown as Message) : parseContent(msg.content);
    } catch (e) {
      // Kept whole in the dead letter: the raw bytes of a malformed envelope, the text of anything else.
      body = isEnvelope(msg.content) ? msg.content : msg.content.toString("utf8");
      error = e instanceof OracleError ? e : new OracleError("MESSAGE_INVALID", "the message is not JSON", { cause: e });
    }
    if (error === undefined) {
      try {
        await c.handler({ messageId, body, deliveryCount } satisfies Delivery<Message>, c.controller.signal);
        ok = true;
      } catch (e) {
        error = e;
      }
    }
    if (ok) return this.settle(c, ch, open, () => ch.ack(msg));

    // A handler cut short by close() (its signal aborted) is not the message's fault: back to the queue.
    if (c.controller.signal.aborted) return this.settle(c, ch, open, () => ch.nack(msg, false, true));
    const reason = error instanceof Error ? `${(error as OracleError).code ?? error.name}: ${error.message}` : String(error);
    const maxDeliveries = this.explicit.get(c.queue) ?? (Number(headers[MAX_DELIVERIES_HEADER]) || DEFAULT_MAX_DELIVERIES);
    if (isRetryable(error) && deliveryCount < maxDeliveries) {
      return this.settle(c, ch, open, () => ch.nack(msg, false, true));
    }
    const dead: DeadLetter = { messageId, body, reason, deliveryCount };
    try {
      const { content, contentType } = serializeContent(dead as unknown as Message);
      await this.send(c.queue + DEAD_LETTER_SUFFIX, content, {
        messageId,
        contentType,
        headers: { [DEAD_LETTER_HEADER]: 1 },
      });
    } catch (e) {
      // Not dead-lettered: leave it to a redelivery (or to the broker's own delivery limit).
      this.logger.error({ err: e instanceof Error ? e.message : String(e), queue: c.queue, messageId }, "could not dead-letter a message; requeueing it");
      return this.settle(c, ch, open, () => ch.nack(msg, false, true));
    }
    this.settle(c, ch, open, () => ch.ack(msg));
  }

  /** Acks or nacks on the channel the message came on, unless that channel is gone (then the broker redelivers). */
  private settle(c: ConsumerState, ch: Channel, open: OpenDelivery, op: () => void): void {
    if (open.settled) return;
    open.settled = true;
    c.open.delete(open);
    this.unacked.set(c.queue, (this.unacked.get(c.queue) ?? 1) - 1);
    if (c.channel !== ch && !c.active && c.channel !== undefined) return;
    try {
      op();
    } catch {
      // The channel closed meanwhile: the broker has already put the message back.
    }
  }

  private releaseOpen(c: ConsumerState): void {
    for (const open of c.open) {
      if (open.settled) continue;
      open.settled = true;
      this.unacked.set(c.queue, (this.unacked.get(c.queue) ?? 1) - 1);
    }
    c.open.clear();
  }

  private async stopConsumer(c: ConsumerState): Promise<void> {
    c.active = false;
    this.consumers.delete(c);
    await c.starting?.catch(noop);
    const ch = c.channel;
    if (ch !== undefined && c.tag !== undefined) await ch.cancel(c.tag).catch(noop);
    await Promise.allSettled([...c.inFlight]);
    if (ch !== undefined) {
      await ch.close().catch(noop);
      if (c.channel === ch) {
        this.releaseOpen(c);
        c.channel = undefined;
      }
    }
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

  private utilityChannel(gen: Generation): Promise<Channel> {
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

  private isClosed(): boolean {
    return this.state === "closed";
  }

  private ensureNotClosed(): void {
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

  private setHeld(l: LeaseState, held: boolean): void {
    if (l.held === held) return;
    l.held = held;
    try {
      l.onChange(held);
    } catch (error) {
      this.logger.error({ err: error, queue: l.queue }, "lease callback failed");
    }
  }

  private async startLease(gen: Generation, l: LeaseState): Promise<void> {
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
      this.wakeReconnect?.();
      const gen = this.gen;
      this.gen = undefined;
      if (gen !== undefined) {
        gen.lost = true;
        try {
          await gen.conn.close();
        } catch (error) {
          if (!/closed/i.test(String((error as Error)?.message))) errors.push(error);
        }
      }
      await this.reconnecting?.catch(noop);
      if (errors.length > 0) this.logger.warn({ errors: errors.map(String) }, "errors while closing the broker connection");
    })();
    return this.closing;
  }
}
