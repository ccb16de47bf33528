/** RabbitMqQueue's (rabbitmq.ts) bookkeeping: a connection generation, consumers, leases, and its error helpers. */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import { OracleError } from "../protocol/index.js";
import type { Handler, Message } from "./types.js";

/** Thrown inside this module when a channel or the connection went away under an operation. */
export class ConnectionLost extends Error {
  constructor(cause: unknown) {
    super("the broker connection was lost", { cause });
  }
}
export class Nacked extends Error {}

export interface PendingPublish {
  fail(error: Error): void;
}

/** One connection and what lives on it; replaced as a whole on reconnection. */
export interface Generation {
  readonly id: number;
  readonly conn: ChannelModel;
  readonly publisher: ConfirmChannel;
  lost: boolean;
  readonly declared: Set<string>;
  readonly declaring: Map<string, Promise<void>>;
  readonly pending: Set<PendingPublish>;
  drain: { promise: Promise<void>; resolve: () => void } | undefined;
  utility: Promise<Channel> | undefined;
  /** Set when the broker refused this user something on the publisher channel (403). */
  refused?: OracleError;
}

/** A lease competed for on one single-active-consumer queue (see `lease`). */
export interface LeaseState {
  readonly queue: string;
  readonly onChange: (held: boolean) => void;
  held: boolean;
  released: boolean;
  channel: Channel | undefined;
  /** The token delivery held unacked while this process leads. */
  token: ConsumeMessage | undefined;
}

export interface OpenDelivery {
  settled: boolean;
}

export interface ConsumerState {
  readonly queue: string;
  readonly handler: Handler<Message>;
  readonly prefetch: number;
  readonly controller: AbortController;
  active: boolean;
  channel: Channel | undefined;
  tag: string | undefined;
  starting: Promise<void> | undefined;
  readonly inFlight: Set<Promise<void>>;
  /** Deliveries on the current channel not yet acked or nacked. */
  readonly open: Set<OpenDelivery>;
}

export const noop = () => {};

export function amqpCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** A broker's 403 (ACCESS_REFUSED: the user lacks the permission) as a non-retryable error; undefined for anything else. */
export function accessRefused(error: unknown): OracleError | undefined {
  if (amqpCode(error) !== 403) return undefined;
  const message = error instanceof Error ? error.message : String(error);
  return new OracleError("QUEUE_ACCESS_REFUSED", `the broker refused this user: ${/ACCESS_REFUSED - ([^"]*)/.exec(message)?.[1] ?? message}`, { retryable: false, details: { reason: message } });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The URL with its password replaced, for logs and errors. */
export function redactAmqpUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "amqp://<unparseable url>";
  }
}