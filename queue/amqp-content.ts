/** What RabbitMqQueue (rabbitmq.ts) puts on the broker: message content, quorum-queue arguments, dead letters. */
import type { MessagePropertyHeaders } from "amqplib";
import { ENVELOPE_CONTENT_TYPE, decodeEnvelope, encodeEnvelope, hasBytes, isEnvelope, OracleError } from "../protocol/index.js";
import { DEAD_LETTER_SUFFIX, type DeadLetter, type Message } from "./types.js";

/** Header on dead letters this class wrote (the broker's own carry `x-first-death-reason` instead). */
export const DEAD_LETTER_HEADER = "x-oracle-dead-letter";
/** The publisher's view of the queue's maxDeliveries, so a consumer that never declared the queue knows it. */
export const MAX_DELIVERIES_HEADER = "x-oracle-max-deliveries";

export function quorumArgs(name: string, maxDeliveries: number): Record<string, unknown> {
  if (name.endsWith(DEAD_LETTER_SUFFIX)) return { "x-queue-type": "quorum" };
  return {
    "x-queue-type": "quorum",
    // Returns (nacks, dropped channels) allowed before the broker dead-letters by itself.
    "x-delivery-limit": Math.max(0, maxDeliveries - 1),
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": name + DEAD_LETTER_SUFFIX,
  };
}

/**
 * A dead letter as stored in `<name>.dead`, whichever side wrote it. The broker dead-letters a
 * message by itself only at its delivery limit (a consumer that kept dying before acking); it keeps
 * the original body and adds `x-death` headers, and this returns it as
 * `{ messageId, body, reason: "BROKER_DELIVERY_LIMIT: ...", deliveryCount: maxDeliveries }`.
 */
export function readDeadLetter(message: { content: Buffer; properties: { messageId?: unknown; headers?: MessagePropertyHeaders } }): DeadLetter {
  const headers = message.properties.headers ?? {};
  let parsed: Message;
  try {
    parsed = parseContent(message.content);
  } catch {
    parsed = isEnvelope(message.content) ? message.content : message.content.toString("utf8");
  }
  const brokerReason = headers["x-first-death-reason"];
  if (headers[DEAD_LETTER_HEADER] === undefined && brokerReason !== undefined) {
    const from = String(headers["x-first-death-queue"] ?? "?");
    return {
      messageId: String(message.properties.messageId ?? ""),
      body: parsed,
      reason: `BROKER_${String(brokerReason).toUpperCase()}: the broker dead-lettered it from ${from} (no consumer acked it within the delivery limit: consumers crashed or lost their connection)`,
      deliveryCount: Number(headers[MAX_DELIVERIES_HEADER] ?? 0),
    };
  }
  return parsed as unknown as DeadLetter;
}

/**
 * A message as broker content: one binary envelope when it carries bytes (protocol/envelope.ts),
 * JSON text otherwise (so a message without bytes reads the same to a consumer without the envelope).
 */
export function serializeContent(body: Message): { content: Buffer; contentType: string } {
  if (hasBytes(body)) return { content: encodeEnvelope(body), contentType: ENVELOPE_CONTENT_TYPE };
  const text = JSON.stringify(body);
  if (typeof text !== "string") throw new OracleError("MESSAGE_INVALID", "the message is not a JSON value");
  return { content: Buffer.from(text, "utf8"), contentType: "application/json" };
}

/**
 * Broker content as a message: an envelope (by its magic; byte fields view the content, no copy) or
 * JSON (a message without bytes, or one from a publisher without the envelope: both are read).
 */
export function parseContent(content: Buffer): Message {
  if (isEnvelope(content)) return decodeEnvelope(content);
  try {
    return JSON.parse(content.toString("utf8")) as Message;
  } catch (e) {
    throw new OracleError("MESSAGE_INVALID", "the message is neither an envelope nor JSON", { cause: e });
  }
}