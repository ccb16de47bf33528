/**
 * Tensor bundles: the input or output of a model with several named tensors, as ONE canonical
 * encoding with ONE hash (the request's `inputHash`, the result's `outputHash`). The Solidity twin is
 * `TensorHash.tryHash` (contracts/libraries/TensorHash.sol); golden vectors pin both
 * (test/contracts/golden/bundle-vectors.json). docs/PROTOCOL.md "Tensor bundles".
 *
 * A model with one input (output) keeps today's format exactly: its bundle IS the bare tensor
 * ("VIOT", tensor hash), whatever the tensor's name. Two or more tensors:
 *
 *   "VIOB" | version=1 | count n (2..255) | 0 | 0 | n entries, names in strictly ascending byte order:
 *       name length L (1..255) | name (UTF-8, L bytes) | tensor length T (uint32 big-endian) | tensor (VIOT, T bytes)
 *
 *   bundleHash = sha256(0x03 || n || for each entry: L || name || tensorHash(entry))
 *
 * The 0x03 prefix keeps a bundle hash apart from leaves (0x00), nodes (0x01) and tensor hashes (0x02).
 * Every set of named tensors has exactly one encoding (sorted names, no count below 2).
 */
import { OracleError } from "./errors.js";
import { sha256, bytesToHex } from "./merkle.js";
import { checkSpec, decodeHeaderOf, decodeTensor, encodeTensor, hashEncoded, TensorFormatCode, type Tensor, type TensorSpec } from "./tensor.js";
import type { Hex, TensorHash } from "./types.js";

export const BUNDLE_MAGIC = Buffer.from("VIOB", "ascii");
export const BUNDLE_VERSION = 1;
export const BUNDLE_HEADER_BYTES = 8;
export const MAX_BUNDLE_TENSORS = 255;
export const MAX_TENSOR_NAME_BYTES = 255;

/** Format codes after TensorFormatCode's 1..6, shared with TensorHash.sol's ERR_BUNDLE_* constants. */
export enum BundleFormatCode {
  /** A count below 2 (one tensor travels bare) or a version/reserved byte that is not 1/0/0. */
  BadBundleHeader = 7,
  /** An empty name, or names not in strictly ascending byte order (duplicates included). */
  BadBundleName = 8,
  /** An entry runs past the end, or bytes follow the last entry. */
  BadBundleLength = 9,
}

/** A model's declared input or output, by name (registry `NamedTensorSpec`). */
export interface NamedTensorSpec extends TensorSpec {
  name: string;
}

/** One entry of a decoded bundle. A bare tensor decodes to one entry named "" (the model's only tensor). */
export interface BundleEntry {
  name: string;
  /** The entry's canonical tensor encoding (a view into the bundle). */
  encoded: Buffer;
}

function malformed(code: number, message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("TENSOR_MALFORMED", message, { details: { formatCode: code, ...details } });
}

function isBundle(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).equals(BUNDLE_MAGIC);
}

/** Names in canonical (ascending UTF-8 byte) order. */
export function canonicalNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

/**
 * Encodes named tensors. One tensor: its bare canonical encoding (the name is dropped: a single-tensor
 * model's input and output are unchanged). Two or more: a VIOB bundle, names sorted.
 */
export function encodeBundle(tensors: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>): Buffer {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, Tensor>);
  if (entries.length === 0) throw malformed(BundleFormatCode.BadBundleHeader, "a bundle needs at least one tensor");
  if (entries.length === 1) return encodeTensor(entries[0]![1]);
  return encodeBundleOf(entries.map(([name, t]) => ({ name, encoded: encodeTensor(t) })));
}

/** A VIOB bundle from already encoded tensors (two or more). */
export function encodeBundleOf(entries: readonly { name: string; encoded: Uint8Array }[]): Buffer {
  if (entries.length < 2 || entries.length > MAX_BUNDLE_TENSORS) {
    throw malformed(BundleFormatCode.BadBundleHeader, `a bundle holds 2..${MAX_BUNDLE_TENSORS} tensors, got ${entries.length} (one tensor travels bare)`);
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  if (byName.size !== entries.length) throw malformed(BundleFormatCode.BadBundleName, "a bundle names each tensor once");
  const parts: Buffer[] = [];
  const header = Buffer.alloc(BUNDLE_HEADER_BYTES);
  BUNDLE_MAGIC.copy(header, 0);
  header[4] = BUNDLE_VERSION;
  header[5] = entries.length;
  parts.push(header);
  for (const name of canonicalNames(byName.keys())) {
    const nameBytes = nameBytesOf(name);
    const encoded = byName.get(name)!.encoded;
    decodeHeaderOf(encoded, encoded.byteLength); // each entry is a well-formed tensor
    const len = Buffer.alloc(5 + nameBytes.byteLength);
    len[0] = nameBytes.byteLength;
    nameBytes.copy(len, 1);
    len.writeUInt32BE(encoded.byteLength, 1 + nameBytes.byteLength);
    parts.push(len, Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength));
  }
  return Buffer.concat(parts);
}

function nameBytesOf(name: string): Buffer {
  const b = Buffer.from(name, "utf8");
  if (b.byteLength === 0 || b.byteLength > MAX_TENSOR_NAME_BYTES) {
    throw malformed(BundleFormatCode.BadBundleName, `a tensor name is 1..${MAX_TENSOR_NAME_BYTES} UTF-8 bytes, got ${b.byteLength} ("${name.slice(0, 40)}")`);
  }
  return b;
}

/**
 * Splits an encoding into its entries, checking the bundle's framing and every entry's tensor header
 * (never allocating more than the input). A bare tensor is one entry named "".
 */
export function bundleEntries(bytes: Uint8Array): BundleEntry[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isBundle(buf)) {
    decodeHeaderOf(buf, buf.byteLength);
    return [{ name: "", encoded: buf }];
  }
  if (buf.byteLength < BUNDLE_HEADER_BYTES) throw malformed(TensorFormatCode.TooShort, `a bundle needs at least ${BUNDLE_HEADER_BYTES} bytes, got ${buf.byteLength}`);
  if (buf[4] !== BUNDLE_VERSION || buf[6] !== 0 || buf[7] !== 0) throw malformed(BundleFormatCode.BadBundleHeader, `unsupported bundle version ${buf[4]}`);
  const count = buf[5]!;
  if (count < 2) throw malformed(BundleFormatCode.BadBundleHeader, `a bundle holds at least 2 tensors, this one says ${count} (one tensor travels bare)`);
  const entries: BundleEntry[] = [];
  let at = BUNDLE_HEADER_BYTES;
  let previous: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    if (at + 1 > buf.byteLength) throw malformed(BundleFormatCode.BadBundleLength, `bundle entry ${i} of ${count} is missing`);
    const nameLen = buf[at]!;
    if (nameLen === 0) throw malformed(BundleFormatCode.BadBundleName, `bundle entry ${i} has an empty name`);
    if (at + 1 + nameLen + 4 > buf.byteLength) throw malformed(BundleFormatCode.BadBundleLength, `bundle entry ${i} runs past the end`);
    const name = buf.subarray(at + 1, at + 1 + nameLen);
    const len = buf.readUInt32BE(at + 1 + nameLen);
    const start = at + 5 + nameLen;
    if (start + len > buf.byteLength) throw malformed(BundleFormatCode.BadBundleLength, `bundle entry "${name.toString("utf8")}" claims ${len} bytes, ${buf.byteLength - start} remain`);
    const encoded = buf.subarray(start, start + len);
    try {
      decodeHeaderOf(encoded, encoded.byteLength);
    } catch (error) {
      if (error instanceof OracleError) throw new OracleError(error.code, `bundle entry "${name.toString("utf8")}": ${error.message}`, { details: { ...error.details, name: name.toString("utf8") } });
      throw error;
    }
    // Checked after the entry itself, in the order TensorHash.sol checks (the same code on both sides).
    if (previous !== undefined && Buffer.compare(previous, name) >= 0) {
      throw malformed(BundleFormatCode.BadBundleName, `bundle names must be strictly ascending: "${name.toString("utf8")}" follows "${previous.toString("utf8")}"`);
    }
    previous = name;
    entries.push({ name: name.toString("utf8"), encoded });
    at = start + len;
  }
  if (at !== buf.byteLength) throw malformed(BundleFormatCode.BadBundleLength, `${buf.byteLength - at} bytes follow the bundle's last entry`);
  return entries;
}

/** The hash of a canonical encoding: the tensor hash of a bare tensor, the bundle hash of a VIOB bundle. */
export function hashBundleEncoded(bytes: Uint8Array): TensorHash {
  const entries = bundleEntries(bytes);
  if (!isBundle(bytes)) return hashEncoded(bytes);
  return bundleHashOf(entries.map((e) => ({ name: e.name, hash: hashEncoded(e.encoded) })));
}

/** sha256(0x03 || n || for each entry, in canonical order: L || name || tensorHash). */
export function bundleHashOf(entries: readonly { name: string; hash: Hex }[]): TensorHash {
  const parts: Uint8Array[] = [Buffer.from([3, entries.length])];
  for (const name of canonicalNames(entries.map((e) => e.name))) {
    const nameBytes = nameBytesOf(name);
    parts.push(Buffer.from([nameBytes.byteLength]), nameBytes, Buffer.from(entries.find((e) => e.name === name)!.hash.slice(2), "hex"));
  }
  return bytesToHex(sha256(...parts)) as TensorHash;
}

export function hashBundle(tensors: Readonly<Record<string, Tensor>>): TensorHash {
  return hashBundleEncoded(encodeBundle(tensors));
}

/** Decodes every tensor of a bundle (copies into aligned arrays). A bare tensor decodes to `{ "": tensor }`. */
export function decodeBundle(bytes: Uint8Array): Map<string, Tensor> {
  return new Map(bundleEntries(bytes).map((e) => [e.name, decodeTensor(e.encoded)]));
}

function specMismatch(message: string, details: Record<string, unknown>): OracleError {
  return new OracleError("TENSOR_SPEC_MISMATCH", message, { details });
}

/**
 * Matches a bundle's entries to a model's named specs; returns the entries keyed by the model's names.
 * One spec: the encoding must be the bare tensor. Several: a bundle with exactly the model's names.
 * Errors (TENSOR_SPEC_MISMATCH): a bundle sent to a one-tensor model, a bare tensor sent to a
 * several-tensor model, a missing, unexpected or misnamed tensor, a wrong dtype or shape (by name).
 */
export function matchBundle(entries: readonly BundleEntry[], specs: readonly NamedTensorSpec[], what = "input"): Map<string, BundleEntry> {
  const names = specs.map((s) => s.name);
  if (specs.length === 1) {
    if (entries.length !== 1 || entries[0]!.name !== "") {
      throw specMismatch(`the model has one ${what}${names[0] ? ` (${names[0]})` : ""}: send the tensor itself, not a bundle of ${entries.length}`, { expected: names, actual: entries.map((e) => e.name) });
    }
    const h = decodeHeaderOf(entries[0]!.encoded, entries[0]!.encoded.byteLength);
    checkSpec(h, specs[0]!, what);
    return new Map([[specs[0]!.name, entries[0]!]]);
  }
  if (entries.length === 1 && entries[0]!.name === "") {
    throw specMismatch(`the model has ${specs.length} ${what}s (${names.join(", ")}): send a bundle naming each, not a single tensor`, { expected: names, actual: [] });
  }
  const given = new Map(entries.map((e) => [e.name, e]));
  const missing = names.filter((n) => !given.has(n));
  const unexpected = [...given.keys()].filter((n) => !names.includes(n));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts: string[] = [];
    if (unexpected.length > 0) parts.push(`unexpected ${what}${unexpected.length > 1 ? "s" : ""} ${unexpected.map((n) => `"${n}"`).join(", ")}`);
    if (missing.length > 0) parts.push(`missing ${what}${missing.length > 1 ? "s" : ""} ${missing.map((n) => `"${n}"`).join(", ")}`);
    const hint = missing.length === 1 && unexpected.length === 1 ? ` (is "${unexpected[0]}" meant to be "${missing[0]}"?)` : "";
    throw specMismatch(`${parts.join("; ")}${hint}; the model's ${what}s are ${names.map((n) => `"${n}"`).join(", ")}`, { expected: names, actual: [...given.keys()], missing, unexpected });
  }
  const out = new Map<string, BundleEntry>();
  for (const spec of specs) {
    const entry = given.get(spec.name)!;
    checkSpec(decodeHeaderOf(entry.encoded, entry.encoded.byteLength), spec, `${what} "${spec.name}"`);
    out.set(spec.name, entry);
  }
  return out;
}

/** Decodes and checks an encoding against a model's named specs; tensors keyed by the model's names. */
export function decodeBundleFor(bytes: Uint8Array, specs: readonly NamedTensorSpec[], what = "input"): Map<string, Tensor> {
  const matched = matchBundle(bundleEntries(bytes), specs, what);
  return new Map([...matched].map(([name, e]) => [name, decodeTensor(e.encoded)]));
}

/** Encodes tensors keyed by a model's names: bare when the model has one tensor, a bundle otherwise. */
export function encodeBundleFor(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, specs: readonly NamedTensorSpec[]): Buffer {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors as Record<string, Tensor>));
  if (specs.length === 1) {
    const only = map.size === 1 ? [...map.values()][0] : map.get(specs[0]!.name);
    if (only === undefined || map.size !== 1) throw specMismatch(`the model has one tensor (${specs[0]!.name}), got ${map.size}`, { actual: [...map.keys()] });
    return encodeTensor(only);
  }
  return encodeBundle(map);
}

/** Is this encoding a bundle ("VIOB"), not a bare tensor? */
export { isBundle as isTensorBundle };
