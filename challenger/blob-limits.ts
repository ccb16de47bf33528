/** Byte caps for what the challenger downloads from the blob store (a request's input, a signed output). */
import { type TensorType, DTYPES, HEADER_FIXED_BYTES, numel } from "../protocol/index.js";

/** Cap on one download whose size no committed type bounds (a dynamic dimension): 1 GiB. */
export const DEFAULT_MAX_AUDIT_BYTES = 1 << 30;

/** Exact encoded size of a tensor of `type` (canonical encoding, docs/PROTOCOL.md). */
export function encodedSize(type: TensorType): number {
  return HEADER_FIXED_BYTES + 4 * type.shape.length + numel(type.shape) * (DTYPES[type.dtype]?.size ?? 1);
}
