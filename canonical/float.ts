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
