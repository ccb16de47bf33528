/**
 * The protocol's hex strings, one pattern each (no dependencies, so the SDK can use them): bytes32
 * (hashes, request ids, private keys), addresses, 65-byte signatures. protocol/schemas.ts builds the
 * zod primitives on them.
 */
export const BYTES32_PATTERN = /^0x[0-9a-fA-F]{64}$/;
/** A bytes32 as the protocol writes it in names and paths (lower case). */
export const BYTES32_LOWER_PATTERN = /^0x[0-9a-f]{64}$/;
export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
export const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/;

export const isBytes32 = (value: unknown): value is string => typeof value === "string" && BYTES32_PATTERN.test(value);
export const isAddressHex = (value: unknown): value is string => typeof value === "string" && ADDRESS_PATTERN.test(value);
