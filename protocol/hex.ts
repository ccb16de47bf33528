/**
 * The protocol's hex strings, one pattern each (no dependencies, so the SDK can use them): bytes32
 * (hashes, request ids, private keys), addresses, 65-byte signatures, hex bytes. protocol/schemas.ts
 * builds the zod primitives on them; no other file writes a 0x pattern of its own.
 */
export const BYTES32_PATTERN = /^0x[0-9a-fA-F]{64}$/;
/** A bytes32 as the protocol writes it in names and paths (lower case). */
export const BYTES32_LOWER_PATTERN = /^0x[0-9a-f]{64}$/;
export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
export const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/;

export const isBytes32 = (value: unknown): value is string => typeof value === "string" && BYTES32_PATTERN.test(value);
export const isAddressHex = (value: unknown): value is string => typeof value === "string" && ADDRESS_PATTERN.test(value);
/**
 * 0x-prefixed hex bytes (an even number of digits). The group is non-capturing on purpose: with a
 * capturing group V8's backtracking overflowed its stack on hex strings of about 10 MB (a fuzzer
 * found it), so a hostile message made the consumer throw a RangeError instead of MESSAGE_INVALID.
 */
export const HEX_BYTES_PATTERN = /^0x(?:[0-9a-fA-F]{2})*$/;
const ZERO_PATTERN = /^0x0+$/;
const PREFIX_PATTERN = /^0x[0-9a-f]{4,63}$/;
const ABBREVIATED_PATTERN = /^(0x[0-9a-f]{4,})(?:…|\.\.\.?)([0-9a-f]{1,60})$/;

/** Whether `value` is a 0x hex string of zeros only (the zero address, a zero hash). */
export const isZeroHex = (value: string): boolean => ZERO_PATTERN.test(value);

/**
 * A bytes32 (lower case) written short: its first digits ("0xab12", at least 4) or its first and
 * last digits ("0xab12…ef90", "0xab12...ef90", as `oracle model list` prints them); undefined for
 * anything else. A full bytes32 is not an abbreviation.
 */
export function hashAbbreviation(text: string): { head: string; tail: string } | undefined {
  if (PREFIX_PATTERN.test(text)) return { head: text, tail: "" };
  const m = ABBREVIATED_PATTERN.exec(text);
  return m === null ? undefined : { head: m[1]!, tail: m[2]! };
}
