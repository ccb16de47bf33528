import { randomUUID } from "node:crypto";
import { joinMessage, splitMessage, type Message as Body, OracleError, isRetryable } from "../protocol/index.js";
import {
  DEAD_LETTER_SUFFIX,
  DEFAULT_MAX_DELIVERIES,
  type ConsumeOptions,
  type DeadLetter,
  type Delivery,
  type Handler,
  type JobQueue,
  type Lease,
  type QueueOptions,
  type Subscription,
} from "./types.js";

interface Message {
  messageId: string;
  /**
   * The header serialized like a broker would (so non-JSON payloads fail here as they would on
   * RabbitMQ, and a handler gets its own copy of the structure); byte fields are kept as the
   * publisher's Buffers and handed over by reference (no copy, no JSON: protocol/envelope.ts).
   */
  payload: string;
  sections: Uint8Array[];
  dataBytes: number;
  deliveryCount: number;
}

function pack(messageId: string, body: Body): Message {
  const { header, sections, dataBytes } = splitMessage(body);
  return { messageId, payload: header, sections, dataBytes, deliveryCount: 0 };
}

function unpack(m: Message): Body {
  if (m.sections.length === 0) return JSON.parse(m.payload) as Body;
  const byOffset = new Map<number, Uint8Array[]>();
  let at = 0;
  for (const s of m.sections) {
    const list = byOffset.get(at) ?? [];
    list.push(s);
    byOffset.set(at, list);
    at += s.byteLength;
  }
  // Zero-length fields share an offset: hand them out in order.
  const taken = new Map<number, number>();
  return joinMessage(m.payload, m.dataBytes, (offset) => {
    const k = taken.get(offset) ?? 0;
    taken.set(offset, k + 1);
    return byOffset.get(offset)![k]!;
  });
}

interface Consumer {
  handler: Handler<Body>;
  prefetch: number;
  inFlight: Set<Promise<void>>;
  controller: AbortController;
  active: boolean;
}

interface QueueState {
  name: string;
  ready: Message[];
  unacked: number;
  maxDeliveries: number;
  consumers: Consumer[];
  nextConsumer: number;
}

/** The in-process JobQueue: same delivery semantics as the RabbitMQ transport, for one machine. */
export class InProcessQueue implements JobQueue {
  private readonly queues = new Map<string, QueueState>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly leaseHolders = new Map<string, { onChange: (held: boolean) => void; held: boolean }[]>();

  /** Leadership within this process: the first competitor holds the lease, the next takes over on release. */
  async lease(name: string, onChange: (held: boolean) => void): Promise<Lease> {
    const line = this.leaseHolders.get(name) ?? [];
    this.leaseHolders.set(name, line);
    const me = { onChange, held: false };
    line.push(me);
    const grant = () => {
      const first = line[0];
      if (first !== undefined && !first.held) {
        first.held = true;
        first.onChange(true);
      }
    };
    grant();
    let released = false;
    return {
      get held() {
        return me.held;
      },
      release: async () => {
        if (released) return;
        released = true;
        line.splice(line.indexOf(me), 1);
        if (me.held) {
          me.held = false;
          me.onChange(false);
        }
        grant();
      },
    };
  }

  async assertQueue(name: string, options: QueueOptions = {}): Promise<void> {
    this.state(name, options);
  }

  private state(name: string, options: QueueOptions = {}): QueueState {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = { name, ready: [], unacked: 0, maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, consumers: [], nextConsumer: 0 };
      this.queues.set(name, q);
    } else if (options.maxDeliveries !== undefined) {
      q.maxDeliveries = options.maxDeliveries;
    }
    return q;
  }

  private ensureOpen(): void {
    if (this.closed) throw new OracleError("QUEUE_CLOSED", "the queue is closed");
  }

  async publish(queue: string, body: Body, options: { messageId?: string } = {}): Promise<void> {
    this.ensureOpen();
    const q = this.state(queue);
    q.ready.push(pack(options.messageId ?? randomUUID(), body));
    this.dispatch(q);
  }

  async consume<T extends Body>(queue: string, handler: Handler<T>, options: ConsumeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    const q = this.state(queue);
    const consumer: Consumer = {
      handler: handler as Handler<Body>,
      prefetch: Math.max(1, options.prefetch ?? 1),
      inFlight: new Set(),
      controller: new AbortController(),
      active: true,
    };
    q.consumers.push(consumer);
    this.dispatch(q);
    let cancelled: Promise<void> | undefined;
    return {
      cancel: () => {
        cancelled ??= (async () => {
          consumer.active = false;
          q.consumers = q.consumers.filter((c) => c !== consumer);
          await Promise.allSettled([...consumer.inFlight]);
        })();
        return cancelled;
      },
    };
  }

  async depth(queue: string): Promise<number> {
    const q = this.queues.get(queue);
    return q === undefined ? 0 : q.ready.length + q.unacked;
  }

  /** Test and inspection helper: the dead letters of `queue`, oldest first. */
  async deadLetters(queue: string): Promise<DeadLetter[]> {
    const q = this.queues.get(queue + DEAD_LETTER_SUFFIX);
    return (q?.ready ?? []).map((m) => unpack(m) as unknown as DeadLetter);
  }

  private dispatch(q: QueueState): void {
    // Round-robin over consumers with free prefetch slots, like a broker.
    while (q.ready.length > 0 && !this.closed) {
      const n = q.consumers.length;
      let chosen: Consumer | undefined;
      for (let k = 0; k < n; k++) {
        const c = q.consumers[(q.nextConsumer + k) % n]!;
        if (c.active && c.inFlight.size < c.prefetch) {
          chosen = c;
          q.nextConsumer = (q.nextConsumer + k + 1) % n;
          break;
        }
      }
      if (chosen === undefined) return;
      const message = q.ready.shift()!;
      message.deliveryCount += 1;
      q.unacked += 1;
      const run = this.deliver(q, chosen, message);
      chosen.inFlight.add(run);
      void run.finally(() => {
        chosen.inFlight.delete(run);
        q.unacked -= 1;
        this.dispatch(q);
      });
    }
  }

  private async deliver(q: QueueState, consumer: Consumer, message: Message): Promise<void> {
    const delivery: Delivery<Body> = {
      messageId: message.messageId,
      body: unpack(message),
      deliveryCount: message.deliveryCount,
    };
    // Yield first so a publisher never runs its consumer's handler on its own stack.
    await Promise.resolve();
    try {
      await consumer.handler(delivery, consumer.controller.signal);
    } catch (error) {
      const reason = error instanceof Error ? `${(error as OracleError).code ?? error.name}: ${error.message}` : String(error);
      if (isRetryable(error) && message.deliveryCount < q.maxDeliveries) {
        q.ready.push(message);
      } else {
        const dead: DeadLetter = { messageId: message.messageId, body: delivery.body, reason, deliveryCount: message.deliveryCount };
        this.state(q.name + DEAD_LETTER_SUFFIX).ready.push(pack(message.messageId, dead as unknown as Body));
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const all: Promise<void>[] = [];
      for (const q of this.queues.values()) {
        for (const c of q.consumers) {
          c.active = false;
          c.controller.abort(new OracleError("QUEUE_CLOSED", "the queue is closing"));
          all.push(...c.inFlight);
        }
      }
      await Promise.allSettled(all);
    })();
    return this.closing;
  }
}
