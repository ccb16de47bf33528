/**
 * The on-chain encodings of one element of one step (docs/CANONICAL.md, "Partial states and the
 * on-chain step"): the 32-byte partial-state record of a reduce element (docs/V2.md §2: `partial leaf =
 * sha256(0x00 || record)`), and the codes and parameter order `contracts/canonical/CanonicalStep.sol`
 * reads a map step with. The values come from canonical/element.ts; this file only lays them out.
 *
 * Record (big-endian):
 * ```
 * byte  0      version = 1
 * byte  1      kind: 0 float sum, 1 float max, 2 int32 sum (wrapping)
 * bytes 2..3   zero
 * bytes 4..7   u32 divisor applied at finalize (a mean's count; 1 otherwise)
 * bytes 8..11  u32 t: terms folded so far (0 = the init)
 * bytes 12..15 zero
 * bytes 16..23 accumulator: binary64 bits (float kinds; every NaN the canonical 0x7ff8000000000000),
 *              or the int32 sum sign-extended to 64-bit two's complement (int32 sum)
 * bytes 24..31 zero
 * ```
 */
import { createHash } from "node:crypto";
import { bitsOf, CANONICAL_NAN, f64, PRECISIONS, type Precision } from "./float.js";
import { foldPartials, type ReduceElement } from "./element.js";
import { canonicalError, MAP_OPS, type Step } from "./program.js";

export const PARTIAL_VERSION = 1;
export const PARTIAL_KINDS = { sum: 0, max: 1, isum: 2 } as const;
export type PartialKind = keyof typeof PARTIAL_KINDS;

export interface PartialState {
  kind: PartialKind;
  /** Divisor at finalize (mean: the count; else 1). */
  count: number;
  /** Terms folded so far. */
  t: number;
  /** The accumulator (a binary64 value; an int32 for `isum`). */
  acc: number;
}

const MASK64 = (1n << 64n) - 1n;

/** A binary64 value's canonical bits (any NaN → 0x7ff8000000000000). */
export function canonicalBits(x: number): bigint {
  return x !== x ? CANONICAL_NAN.fp64 : bitsOf(x);
}

/** A term or accumulator as the 64-bit word the record and CanonicalStep.fold take. */
export function wordOf(kind: PartialKind, x: number): bigint {
  return kind === "isum" ? BigInt(x) & MASK64 : canonicalBits(x);
}

/** The 32-byte record of a partial state. */
export function encodePartial(s: PartialState): Uint8Array {
  if (!Number.isInteger(s.count) || s.count < 1 || s.count > 0xffffffff) throw canonicalError("OP_UNSUPPORTED", `partial divisor ${s.count} out of range`);
  if (!Number.isInteger(s.t) || s.t < 0 || s.t > 0xffffffff) throw canonicalError("OP_UNSUPPORTED", `partial term index ${s.t} out of range`);
  if (s.kind === "isum" && (s.acc | 0) !== s.acc) throw canonicalError("OP_UNSUPPORTED", `int32 partial sum ${s.acc} out of range`);
  const buf = Buffer.alloc(32);
  buf.writeUInt8(PARTIAL_VERSION, 0);
  buf.writeUInt8(PARTIAL_KINDS[s.kind], 1);
  buf.writeUInt32BE(s.count, 4);
  buf.writeUInt32BE(s.t, 8);
  buf.writeBigUInt64BE(wordOf(s.kind, s.acc), 16);
  return new Uint8Array(buf);
}

/** Inverse of encodePartial (throws on a malformed record). */
export function decodePartial(record: Uint8Array): PartialState {
  const buf = Buffer.from(record);
  const kinds = Object.keys(PARTIAL_KINDS) as PartialKind[];
  const kind = kinds[buf.readUInt8(1)];
  const zero = buf.readUInt16BE(2) === 0 && buf.readUInt32BE(12) === 0 && buf.readBigUInt64BE(24) === 0n;
  if (buf.length !== 32 || buf.readUInt8(0) !== PARTIAL_VERSION || kind === undefined || !zero || buf.readUInt32BE(4) === 0) {
    throw canonicalError("OP_UNSUPPORTED", "malformed partial-state record");
  }
  const w = buf.readBigUInt64BE(16);
  const acc = kind === "isum" ? Number(BigInt.asIntN(64, w)) : f64(w);
  return { kind, count: buf.readUInt32BE(4), t: buf.readUInt32BE(8), acc };
}

/** `sha256(0x00 || record)`: a leaf of an element's partial-state tree (docs/V2.md §2). */
export function partialLeaf(s: PartialState): Uint8Array {
  return new Uint8Array(createHash("sha256").update(Uint8Array.of(0)).update(encodePartial(s)).digest());
}

/** The kind of a reduce element's fold. */
export function partialKindOf(r: ReduceElement, integer: boolean): PartialKind {
  return r.max ? "max" : integer ? "isum" : "sum";
}

/** The K + 1 partial states of a reduce element (canonical/element.ts `foldPartials`), as records' contents. */
export function partialStates(r: ReduceElement, integer = false): PartialState[] {
  const kind = partialKindOf(r, integer);
  return Array.from(foldPartials(r, integer), (acc, t) => ({ kind, count: r.count, t, acc }));
}

/** CanonicalStep's precision codes (the commitment's: 0 fp32, 1 tf32, 2 fp16, 3 bf16). */
export function precisionCode(p: Precision): number {
  return PRECISIONS[p];
}

/** CanonicalStep's map op code: the op's index in program.ts `MAP_OPS`. */
export function mapOpCode(op: string): number {
  const i = (MAP_OPS as readonly string[]).indexOf(op);
  if (i < 0) throw canonicalError("OP_UNSUPPORTED", `no map ${op}`);
  return i;
}

/** The parameters of a map op, in the order CanonicalStep.mapElement reads them (binary64 values). */
export const MAP_PARAMS: Partial<Record<string, readonly string[]>> = {
  clip: ["min", "max"],
  hardsigmoid: ["alpha", "beta"],
  leakyrelu: ["alpha"],
  bn_scale: ["epsilon"],
  ln_apply: ["epsilon"],
  scale: ["k"],
  fill: ["value"],
};

/** A float map step's parameters for CanonicalStep.mapElement. */
export function mapParamsOf(step: Step): number[] {
  return (MAP_PARAMS[step.op] ?? []).map((name) => {
    const v = step.params[name]?.[0];
    if (v === undefined) throw canonicalError("OP_UNSUPPORTED", `step ${step.index} (${step.op}) has no parameter ${name}`);
    return v;
  });
}
