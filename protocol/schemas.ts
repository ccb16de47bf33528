/** Shared zod primitives for the protocol's hex strings (patterns in hex.ts): every config and message schema uses these. */
import { z } from "zod";
import { ADDRESS_PATTERN, BYTES32_PATTERN, HEX_BYTES_PATTERN } from "./hex.js";

/** A 0x-prefixed 32-byte hex string (a hash, a request id). */
export const Bytes32Schema = z.string().regex(BYTES32_PATTERN, "expected a 0x-prefixed 32-byte hex string");
/** A 0x-prefixed 20-byte address (any case; not checksum-checked). */
export const AddressSchema = z.string().regex(ADDRESS_PATTERN, "expected a 0x-prefixed 20-byte address");
/** A 0x-prefixed 32-byte private key. */
export const PrivateKeySchema = z.string().regex(BYTES32_PATTERN, "expected a 0x-prefixed 32-byte private key");
/** 0x-prefixed hex bytes (an even number of digits). */
export const HexBytesSchema = z.string().regex(HEX_BYTES_PATTERN, "expected 0x-prefixed hex bytes");
