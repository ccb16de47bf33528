/** RabbitMqQueue's (rabbitmq.ts) publishing through one confirm channel and its consumers, on AmqpConnection. */
import { randomUUID } from "node:crypto";
import type { Channel, ConsumeMessage } from "amqplib";
import { isEnvelope, OracleError, isRetryable } from "../protocol/index.js";
import { DEAD_LETTER_SUFFIX, DEFAULT_MAX_DELIVERIES, type ConsumeOptions, type DeadLetter, type Delivery, type Handler, type Message, type Subscription } from "./types.js";
import { DEAD_LETTER_HEADER, MAX_DELIVERIES_HEADER, parseContent, readDeadLetter, serializeContent } from "./amqp-content.js";
import { ConnectionLost, Nacked, noop, type ConsumerState, type Generation, type OpenDelivery, type PendingPublish } from "./amqp-state.js";
import { AmqpConnection } from "./amqp-connection.js";

export abstract class AmqpConsumers extends AmqpConnection {
  // ---------------------------------------------------------------------------------------------
  // Publishing

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

  protected send(queue: string, content: Buffer, properties: { messageId: string; contentType: string; headers: Record<string, unknown> }): Promise<void> {
    const deadline = Date.now() + this.publishTimeoutMs;
    return this.withConnection(async (gen) => {
      await this.ensureDeclared(gen, queue);
      await this.confirmedPublish(gen, queue, content, properties, deadline);
    }, deadline);
  }

  /** One publish on the confirm channel; resolves on its own confirm, whatever else is in flight. */
  protected async confirmedPublish(
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

  protected startConsumer(gen: Generation, c: ConsumerState): Promise<void> {
    c.starting ??= this.subscribe(gen, c).finally(() => {
      c.starting = undefined;
    });
    return c.starting;
  }

  protected async subscribe(gen: Generation, c: ConsumerState): Promise<void> {
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

  protected onMessage(c: ConsumerState, ch: Channel, msg: ConsumeMessage | null): void {
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

  protected async handle(c: ConsumerState, ch: Channel, msg: ConsumeMessage, open: OpenDelivery): Promise<void> {
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
  protected settle(c: ConsumerState, ch: Channel, open: OpenDelivery, op: () => void): void {
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

  protected releaseOpen(c: ConsumerState): void {
    for (const open of c.open) {
      if (open.settled) continue;
      open.settled = true;
      this.unacked.set(c.queue, (this.unacked.get(c.queue) ?? 1) - 1);
    }
    c.open.clear();
  }

  protected async stopConsumer(c: ConsumerState): Promise<void> {
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
}
