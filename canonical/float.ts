/**
 * Canonical float formats (docs/CANONICAL.md, "Numbers"). Every canonical value is an IEEE-754
 * binary64 (a JS number); a precision rounds values to a narrower format with round-to-nearest-even.
 * Only these exact operations are allowed in canonical code: +, -, *, / and Math.sqrt on binary64
 * (IEEE-exact in every JS engine; V8 never fuses a multiply-add), comparisons, negation, Math.abs,
 * Math.floor/Math.trunc, and the bit-level helpers below. contracts/canonical/Float64.sol implements
 * the same operations bit for bit; test/canonical/float.golden.test.ts checks it.
 */

/** A binary floating-point format: `p` significand bits (with the hidden one), normal exponents emin..emax. */
export interface FloatFormat {
  readonly name: string;
  readonly p: number;
  readonly emin: number;
  readonly emax: number;
}

export const FP32: FloatFormat = { name: "fp32", p: 24, emin: -126, emax: 127 };
export const FP16: FloatFormat = { name: "fp16", p: 11, emin: -14, emax: 15 };
export const BF16: FloatFormat = { name: "bf16", p: 8, emin: -126, emax: 127 };
/** NVIDIA TensorFloat-32: fp32's exponent range with a 10-bit stored mantissa. */
export const TF32: FloatFormat = { name: "tf32", p: 11, emin: -126, emax: 127 };

/**
 * The precision a model's float steps run at (fixed in its commitment):
 * - fp32: every step output rounded to fp32; contractions multiply fp32 operands exactly in binary64.
 * - tf32: as fp32, but contraction (MatMul/Conv/Gemm) operands are first rounded to tf32.
 * - fp16 / bf16: every step output rounded to that format (stored in the model's own dtype).
 */
export const PRECISIONS = { fp32: 0, tf32: 1, fp16: 2, bf16: 3 } as const;
export type Precision = keyof typeof PRECISIONS;

const scratch = new DataView(new ArrayBuffer(8));

/** The binary64 bit pattern of `x`. */
export function bitsOf(x: number): bigint {
  scratch.setFloat64(0, x);
  return scratch.getBigUint64(0);
}

/** The binary64 value of a bit pattern (a 0x-prefixed hex string or a bigint). */
export function f64(bits: string | bigint): number {
  scratch.setBigUint64(0, BigInt(bits));
  return scratch.getFloat64(0);
}

/** 2^k for -1022 <= k <= 1023, built exactly from its bits. */
export function pow2(k: number): number {
  if (!Number.isInteger(k) || k < -1022 || k > 1023) throw new RangeError(`pow2: exponent ${k} out of the normal range`);
  return f64(BigInt(k + 1023) << 52n);
}

/** The unbiased binary exponent of a finite nonzero `x` (floor(log2 |x|)), exact, subnormals included. */
export function exponentOf(x: number): number {
  const bits = bitsOf(x) & 0x7fffffffffffffffn;
  const biased = Number(bits >> 52n);
  if (biased !== 0) return biased - 1023;
  // Subnormal: the leading one of the 52-bit fraction.
  return -1074 + (bits.toString(2).length - 1);
}

/** Round-half-even of a non-negative binary64 integer-or-fraction `n` < 2^53 (exact). */
function roundHalfEven(n: number): number {
  const f = Math.floor(n);
  const d = n - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * `x` rounded to `format` (round to nearest, ties to even; subnormals kept; overflow to ±Infinity;
 * signed zeros and NaN pass through). For FP32 this equals Math.fround.
 */
export function roundTo(x: number, format: FloatFormat): number {
  if (x !== x || x === 0 || x === Infinity || x === -Infinity) return x;
  const a = Math.abs(x);
  let e = exponentOf(a);
  if (e < format.emin) e = format.emin;
  // The quantum (one unit in the last place of the target format at this exponent); a / q and r * q
  // are exact: scaling by a power of two whose results stay normal binary64 numbers.
  const shift = e - format.p + 1;
  const r = roundHalfEven(scaleExact(a, -shift));
  let y = scaleExact(r, shift);
  if (y >= scaleExact(1, format.emax + 1)) y = Infinity;
  return x < 0 ? -y : y;
}

/** a * 2^k where the product is exact (the callers' ranges keep it a normal binary64 number). */
function scaleExact(a: number, k: number): number {
  // Two steps keep each factor a normal power of two for |k| up to 2046.
  const k1 = Math.trunc(k / 2);
  return a * pow2(k1) * pow2(k - k1);
}

/** Rounds `x` to the storage format of a precision. */
export function roundStorage(x: number, precision: Precision): number {
  switch (precision) {
    case "fp32":
    case "tf32":
      return Math.fround(x);
    case "fp16":
      return roundTo(x, FP16);
    case "bf16":
      return roundTo(x, BF16);
  }
}

/** Rounds a contraction operand for a precision (tf32 narrows it; the others keep it as stored). */
export function roundOperand(x: number, precision: Precision): number {
  return precision === "tf32" ? roundTo(x, TF32) : x;
}

/** Canonical quiet NaN bit patterns: every NaN a canonical step writes is encoded as this one. */
export const CANONICAL_NAN = { fp64: 0x7ff8000000000000n, fp32: 0x7fc00000, fp16: 0x7e00, bf16: 0x7fc0 } as const;

/** Rewrites every NaN in a float32 buffer to the canonical quiet NaN (JS may keep NaN payloads). */
export function canonicalizeNaN32(data: Float32Array): void {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) if (data[i] !== data[i]) bits[i] = CANONICAL_NAN.fp32;
}

/** Whether two values are the same canonical value: bitwise equal, or both NaN (any bits). */
export function sameValue(a: number, b: number): boolean {
  if (a !== a) return b !== b;
  return Object.is(a, b);
}

/**
 * x · 2^k rounded once (round to nearest, ties to even), for any integer k: exact unless the result
 * leaves the normal range. Every multiplication but the last is exact (it stays in the normal range),
 * so there is no double rounding. contracts/canonical/Float64.sol `ldexp`.
 */
export function scale(x: number, k: number): number {
  if (!Number.isInteger(k)) throw new RangeError(`scale: exponent ${k} is not an integer`);
  if (x !== x) return NaN;
  if (x === 0 || x === Infinity || x === -Infinity) return x;
  const rest = Math.min(4096, Math.max(-4096, k)); // beyond: ±Inf or ±0 either way
  // The part of the scaling that keeps the value normal (all of it upward, downward as far as the
  // smallest normal exponent) is exact; what remains (if anything) is one multiplication that rounds.
  const e = exponentOf(x);
  const exact = rest >= 0 ? rest : Math.min(0, Math.max(rest, -1022 - e));
  const y = scaleInSteps(x, exact);
  const remaining = rest - exact;
  // y is now 2^-1022 <= |y| < 2^-1021, or remaining is 0; below 2^-1022 the product rounds to ±0 anyway.
  return remaining === 0 ? y : y * pow2(Math.max(remaining, -1022));
}

/** y · 2^n in multiplications by normal powers of two, each exact while the value stays normal. */
function scaleInSteps(y: number, n: number): number {
  while (n > 1023) {
    y = y * pow2(1023);
    n -= 1023;
  }
  while (n < -1022) {
    y = y * pow2(-1022);
    n += 1022;
  }
  return y * pow2(n);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The binary64 nearest (ties to even) to a signed 64-bit integer (Number(BigInt) rounds so). */
export function fromInt64(n: bigint): number {
  return Number(BigInt.asIntN(64, n));
}

/**
 * x truncated toward zero to a signed 64-bit integer, saturating at the int64 range; NaN gives 0
 * (WebAssembly's trunc_sat, Rust's `as`). The canonical Cast from float to int64.
 */
export function toInt64(x: number): bigint {
  if (x !== x) return 0n;
  if (x >= 9223372036854775808) return INT64_MAX;
  if (x <= -9223372036854775808) return INT64_MIN;
  return BigInt(Math.trunc(x));
}

/** Storage layout of a narrow format: exponent and stored fraction bits (tf32 is stored as fp32). */
const LAYOUTS: Record<string, { expBits: number; fracBits: number; nan: number }> = {
  fp32: { expBits: 8, fracBits: 23, nan: CANONICAL_NAN.fp32 },
  tf32: { expBits: 8, fracBits: 23, nan: CANONICAL_NAN.fp32 },
  fp16: { expBits: 5, fracBits: 10, nan: CANONICAL_NAN.fp16 },
  bf16: { expBits: 8, fracBits: 7, nan: CANONICAL_NAN.bf16 },
};

/**
 * The bit pattern of `x` rounded to `format` (tf32 in fp32's layout, low 13 fraction bits zero); a NaN
 * gives the format's canonical NaN. contracts/canonical/Float64.sol `toFp32`/`toFp16`/`toBf16`/`toTf32`.
 */
export function toBits(x: number, format: FloatFormat): number {
  const { expBits, fracBits, nan } = LAYOUTS[format.name]!;
  if (x !== x) return nan;
  const y = roundTo(x, format);
  const sign = y < 0 || Object.is(y, -0) ? 2 ** (expBits + fracBits) : 0;
  const a = Math.abs(y);
  const bias = 2 ** (expBits - 1) - 1;
  if (a === Infinity) return sign + (2 ** expBits - 1) * 2 ** fracBits;
  if (a === 0) return sign;
  const e = exponentOf(a);
  if (e >= 1 - bias) return sign + (e + bias) * 2 ** fracBits + (scale(a, -e) - 1) * 2 ** fracBits;
  return sign + scale(a, fracBits + bias - 1); // subnormal: a / 2^(1 - bias - fracBits), an integer
}

/** The binary64 value of a narrow format's bit pattern (exact; a NaN gives NaN). */
export function fromBits(bits: number, format: FloatFormat): number {
  const { expBits, fracBits } = LAYOUTS[format.name]!;
  const frac = bits % 2 ** fracBits;
  const biased = Math.floor(bits / 2 ** fracBits) % 2 ** expBits;
  const negative = Math.floor(bits / 2 ** (fracBits + expBits)) % 2 === 1;
  const bias = 2 ** (expBits - 1) - 1;
  let v: number;
  if (biased === 2 ** expBits - 1) v = frac === 0 ? Infinity : NaN;
  else if (biased === 0) v = scale(frac, 1 - bias - fracBits);
  else v = scale(2 ** fracBits + frac, biased - bias - fracBits);
  return negative ? -v : v;
}
