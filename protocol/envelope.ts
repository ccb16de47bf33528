/**
 * The binary message envelope: how a queue message that carries bytes (a job's input
 * tensor, a result's output tensor) crosses the job queue without hex or JSON of its bytes.
 *
 *   offset 0   magic "IOE" (0x49 0x4f 0x45)
 *   offset 3   version (u8), ENVELOPE_VERSION = 1
 *   offset 4   header length H (u32, big-endian)
 *   offset 8   header: H bytes of UTF-8 JSON, the message with every byte field replaced by
 *              {"$bytes": [offset, length]} (offset from the start of the data area)
 *   offset 8+H data area: the byte fields back to back, in the order the header names them; they
 *              cover it exactly (no gap, no overlap, nothing after the last)
 *
 * Decoding returns the byte fields as Buffers that VIEW the envelope (no copy). Anything else (wrong
 * magic, another version, a length out of bounds, a header that is not JSON, a reference out of
 * the data area, overlapping or uncovered bytes) is a MESSAGE_INVALID error naming what is wrong:
 * the queue dead-letters such a message with that reason, nothing is lost.
 *
 * The in-process queue uses the same header with the byte fields kept as the publisher's own
 * Buffers (splitMessage / joinMessage): structure copied, bytes passed by reference.
 */
import { OracleError } from "./errors.js";
import { HEX_BYTES_PATTERN } from "./hex.js";

/** A queue message: a JSON value whose leaves may also be bytes. */
export type Message = null | boolean | number | string | Uint8Array | Message[] | { [key: string]: Message };

export const ENVELOPE_MAGIC = Buffer.from("IOE", "ascii");
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_PREFIX_BYTES = 8;
/** Largest envelope either side accepts (64 MiB: a batch of large inline outputs; bigger go by blob). */
export const MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;
/** The content type RabbitMQ messages in this format carry. */
export const ENVELOPE_CONTENT_TYPE = "application/vnd.inference-oracle.envelope";

const REF = "$bytes";

function invalid(message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("MESSAGE_INVALID", `malformed envelope: ${message}`, { details });
}

/** Whether `value` holds a byte field anywhere (such a message travels as an envelope). */
export function hasBytes(value: unknown): boolean {
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.some(hasBytes);
  if (value !== null && typeof value === "object") {
    for (const k in value) if (hasBytes((value as Record<string, unknown>)[k])) return true;
  }
  return false;
}

/** Whether `bytes` starts like an envelope (magic), whatever its version. */
export function isEnvelope(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 3 && bytes[0] === 0x49 && bytes[1] === 0x4f && bytes[2] === 0x45;
}

/**
 * The message's header JSON (byte fields as references) and its byte fields in order. Refuses what
 * JSON cannot carry (NaN, functions, cycles are TypeErrors of JSON.stringify) and any object that
 * has its own "$bytes" key (it would read back as a reference).
 */
export function splitMessage(value: Message): { header: string; sections: Uint8Array[]; dataBytes: number } {
  const sections: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: Message, path: string): unknown => {
    if (v instanceof Uint8Array) {
      const ref = { [REF]: [offset, v.byteLength] };
      sections.push(v);
      offset += v.byteLength;
      return ref;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v !== null && typeof v === "object") {
      if (Object.prototype.hasOwnProperty.call(v, REF)) {
        throw new OracleError("MESSAGE_INVALID", `${path || "(root)"} has a "${REF}" key, which the envelope reserves for byte fields`);
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = v[k];
        if (x !== undefined) out[k] = walk(x, path === "" ? k : `${path}.${k}`);
      }
      return out;
    }
    return v;
  };
  const header = JSON.stringify(walk(value, ""));
  if (typeof header !== "string") throw new OracleError("MESSAGE_INVALID", "the message is not a JSON value");
  return { header, sections, dataBytes: offset };
}

/**
 * Rebuilds a message from its header and a resolver of (offset, length) references; checks that the
 * references tile [0, dataBytes) exactly.
 */
export function joinMessage(header: string, dataBytes: number, resolve: (offset: number, length: number) => Uint8Array): Message {
  const refs: [number, number][] = [];
  let parsed: Message;
  try {
    parsed = JSON.parse(header, function (_key, v: unknown) {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, REF)) {
        const keys = Object.keys(v);
        const ref = (v as Record<string, unknown>)[REF];
        if (
          keys.length !== 1 ||
          !Array.isArray(ref) ||
          ref.length !== 2 ||
          !ref.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
        ) {
          throw invalid(`a "${REF}" reference must be {"${REF}": [offset, length]} with non-negative integers`);
        }
        const [offset, length] = ref as [number, number];
        if (offset + length > dataBytes) throw invalid(`a byte field [${offset}, +${length}) reaches past the data area (${dataBytes} bytes)`);
        refs.push([offset, length]);
        return resolve(offset, length);
      }
      return v;
    }) as Message;
  } catch (error) {
    if (error instanceof OracleError) throw error;
    throw invalid("the header is not JSON", { cause: (error as Error).message });
  }
  refs.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [offset, length] of refs) {
    if (offset !== at) throw invalid(offset < at ? `byte fields overlap at offset ${offset}` : `bytes [${at}, ${offset}) of the data area belong to no field`);
    at = offset + length;
  }
  if (at !== dataBytes) throw invalid(`bytes [${at}, ${dataBytes}) of the data area belong to no field`);
  return parsed;
}

/** The message as one envelope (one copy of its byte fields, into the envelope). */
export function encodeEnvelope(value: Message): Buffer {
  const { header, sections, dataBytes } = splitMessage(value);
  const headerBytes = Buffer.byteLength(header, "utf8");
  const total = ENVELOPE_PREFIX_BYTES + headerBytes + dataBytes;
  if (total > MAX_ENVELOPE_BYTES) {
    throw new OracleError("PAYLOAD_TOO_LARGE", `the message is ${total} bytes as an envelope, more than ${MAX_ENVELOPE_BYTES}`, { details: { bytes: total, max: MAX_ENVELOPE_BYTES } });
  }
  const out = Buffer.allocUnsafe(total);
  ENVELOPE_MAGIC.copy(out, 0);
  out[3] = ENVELOPE_VERSION;
  out.writeUInt32BE(headerBytes, 4);
  out.write(header, ENVELOPE_PREFIX_BYTES, "utf8");
  let at = ENVELOPE_PREFIX_BYTES + headerBytes;
  for (const s of sections) {
    out.set(s, at);
    at += s.byteLength;
  }
  return out;
}

/** The message in an envelope; its byte fields are Buffers viewing `bytes` (no copy). */
export function decodeEnvelope(bytes: Uint8Array): Message {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength > MAX_ENVELOPE_BYTES) throw invalid(`${buf.byteLength} bytes, more than ${MAX_ENVELOPE_BYTES}`);
  if (buf.byteLength < ENVELOPE_PREFIX_BYTES) throw invalid(`${buf.byteLength} bytes, shorter than its ${ENVELOPE_PREFIX_BYTES}-byte prefix`);
  if (!isEnvelope(buf)) throw invalid("it does not start with the magic \"IOE\"");
  if (buf[3] !== ENVELOPE_VERSION) throw invalid(`version ${buf[3]}, this software reads version ${ENVELOPE_VERSION}`, { version: buf[3] });
  const headerBytes = buf.readUInt32BE(4);
  if (ENVELOPE_PREFIX_BYTES + headerBytes > buf.byteLength) throw invalid(`its header length ${headerBytes} reaches past its ${buf.byteLength} bytes`);
  const dataStart = ENVELOPE_PREFIX_BYTES + headerBytes;
  const header = new TextDecoder("utf-8", { fatal: true });
  let text: string;
  try {
    text = header.decode(buf.subarray(ENVELOPE_PREFIX_BYTES, dataStart));
  } catch {
    throw invalid("the header is not UTF-8");
  }
  return joinMessage(text, buf.byteLength - dataStart, (offset, length) => buf.subarray(dataStart + offset, dataStart + offset + length));
}

/** 0x-hex of a byte field, or the string itself (a JSON message carries its bytes as 0x-hex). */
export function hexOf(value: string | Uint8Array): string {
  return typeof value === "string" ? value : `0x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
}

/** The bytes of a byte field, or of a 0x-hex string (a JSON message carries its bytes as 0x-hex). */
export function bytesOf(value: string | Uint8Array): Buffer {
  if (typeof value !== "string") return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!HEX_BYTES_PATTERN.test(value)) throw new OracleError("MESSAGE_INVALID", "expected 0x-prefixed hex bytes");
  return Buffer.from(value.slice(2), "hex");
}
