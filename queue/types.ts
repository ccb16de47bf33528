/**
 * The job queue interface. The in-process queue (memory.ts) is the embedded default; a RabbitMQ
 * implementation provides the same semantics across machines:
 *
 * - at-least-once delivery: a message is removed only when its handler returns (ack);
 * - a handler that throws a retryable error gets the message redelivered, up to `maxDeliveries`,
 *   after which it goes to the dead-letter queue `<name>.dead` with the reason;
 * - a handler that throws a non-retryable error (see protocol/errors.ts isRetryable) dead-letters it at once;
 * - `prefetch` bounds how many unacked messages one consumer holds;
 * - messages are JSON values whose leaves may be bytes (protocol/envelope.ts): a message with bytes
 *   crosses RabbitMQ as one binary envelope (no hex, no JSON of its bytes) and the in-process queue
 *   as its publisher's own Buffers (no copy: the queue owns a published buffer, never mutate it);
 *   a message without bytes travels as JSON text.
 */
import type { Message } from "../protocol/index.js";

export type { Message } from "../protocol/index.js";
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Delivery<T> {
  /** Stable id of the message (publishers set it to make redeliveries recognizable). */
  readonly messageId: string;
  readonly body: T;
  /** 1 on the first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
}

export type Handler<T> = (delivery: Delivery<T>, signal: AbortSignal) => Promise<void>;

export interface ConsumeOptions {
  /** Unacknowledged messages this consumer may hold at once. */
  prefetch?: number;
}

export interface Subscription {
  /** Stops taking new messages and waits for the in-flight handlers. Safe to call twice. */
  cancel(): Promise<void>;
}

export interface QueueOptions {
  /** Deliveries before a message is dead-lettered. */
  maxDeliveries?: number;
}

export interface DeadLetter<T = Message> {
  messageId: string;
  body: T;
  reason: string;
  deliveryCount: number;
}

/**
 * Leadership among the processes sharing a queue system: at most one holder at a time (as seen by
 * the broker), handed to a waiting process as soon as the holder's connection goes.
 */
export interface Lease {
  /** Whether this process holds the lease right now. */
  readonly held: boolean;
  /** Gives the lease up (another process takes it) and stops competing for it. Safe to call twice. */
  release(): Promise<void>;
}

export interface JobQueue {
  /** Declares a queue (idempotent); publishing or consuming also declares with defaults. */
  assertQueue(name: string, options?: QueueOptions): Promise<void>;
  /** Resolves once the broker has taken responsibility for the message (publisher confirm). */
  publish(queue: string, body: Message, options?: { messageId?: string }): Promise<void>;
  consume<T extends Message>(queue: string, handler: Handler<T>, options?: ConsumeOptions): Promise<Subscription>;
  /** Messages ready plus unacknowledged. */
  depth(queue: string): Promise<number>;
  /** Waits for in-flight handlers, then releases everything. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Competes for the lease `name`; `onChange(true)` when this process gets it, `onChange(false)` when
   * it loses it (connection lost, release). Optional: queues without it cannot elect a leader.
   */
  lease?(name: string, onChange: (held: boolean) => void): Promise<Lease>;
}

export const DEAD_LETTER_SUFFIX = ".dead";
export const DEFAULT_MAX_DELIVERIES = 5;
