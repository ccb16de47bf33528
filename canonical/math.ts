/**
 * Canonical transcendental functions (docs/CANONICAL.md, "Functions"): each one is DEFINED by the
 * sequence of binary64 operations below, so the canonical runtime and the on-chain verifier
 * (contracts/canonical/CanonicalMath.sol) compute the same bits. They are not claimed to be
 * correctly rounded; measured errors (docs/CANONICAL-NUMBERS.md, checked by test/canonical/math.test.ts)
 * are a few binary64 ulps (cpow: a relative (|y·ln x| + 4)·2^-53), far below float32's resolution
 * (the precision models run at), which is all that keeps honest runtimes within a model's τ_out.
 *
 * Rules for editing: only the exact operations listed in canonical/float.ts; constants as bit
 * patterns (f64("0x...")), mirrored in Solidity; any change is a new semantics version.
 */
import { exponentOf, f64, pow2 } from "./float.js";

/** The semantics version these definitions belong to (part of every model commitment). */
export const SEMANTICS_VERSION = 1;

// ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (LN2_HI has 32 trailing zero bits).
export const LN2_HI = f64("0x3fe62e42fee00000");
export const LN2_LO = f64("0x3dea39ef35793c76");
export const INV_LN2 = f64("0x3ff71547652b82fe");
export const SQRT2 = f64("0x3ff6a09e667f3bcd");
export const TWO_OVER_SQRT_PI = f64("0x3ff20dd750429b6d");
export const ONE_OVER_SQRT_PI = f64("0x3fe20dd750429b6d");

/** 1/n! for n = 0..16 (binary64 nearest), the Taylor coefficients of exp. */
export const EXP_COEFFS: readonly number[] = [
  "0x3ff0000000000000", "0x3ff0000000000000", "0x3fe0000000000000", "0x3fc5555555555555",
  "0x3fa5555555555555", "0x3f81111111111111", "0x3f56c16c16c16c17", "0x3f2a01a01a01a01a",
  "0x3efa01a01a01a01a", "0x3ec71de3a556c734", "0x3e927e4fb7789f5c", "0x3e5ae64567f544e4",
  "0x3e21eed8eff8d898", "0x3de6124613a86d09", "0x3da93974a8c07c9d", "0x3d6ae7f3e733b81f",
  "0x3d2ae7f3e733b81f",
].map(f64);

/** Degree of exp's polynomial on |r| <= ln2/2: the first term left out, r^14/14!, is below 2^-57. */
export const EXP_DEGREE = 13;
/** Degree of expm1's polynomial on |x| < 0.5: the first term left out, x^17/17!, is below 2^-65·|x|. */
export const EXPM1_DEGREE = 16;

/** 2/(2k+1) for k = 1..9, the series of log(m) = 2·atanh(s) past its first term. */
export const LOG_COEFFS: readonly number[] = [
  "0x3fe5555555555555", "0x3fd999999999999a", "0x3fd2492492492492", "0x3fcc71c71c71c71c",
  "0x3fc745d1745d1746", "0x3fc3b13b13b13b14", "0x3fc1111111111111", "0x3fbe1e1e1e1e1e1e",
  "0x3fbaf286bca1af28",
].map(f64);

/** Above this exp overflows to +Infinity; below EXP_UNDERFLOW it is +0. */
export const EXP_OVERFLOW = f64("0x40862e42fefa39ef"); // 709.782712893384
export const EXP_UNDERFLOW = f64("0xc0874910d52d3051"); // -745.1332191019411

/**
 * a * 2^k for |k| <= 2046, as two multiplications by 2^trunc(k/2) and 2^(k − trunc(k/2)). Only the
 * second one can round where this file calls it (cexp: |a| in [0.5, 2), |k| <= 1075; clog: a result in
 * [1, 2)); for an arbitrary `a` the first could round too (double rounding): use float.ts `scale`.
 */
export function ldexp(a: number, k: number): number {
  const k1 = Math.trunc(k / 2);
  return a * pow2(k1) * pow2(k - k1);
}

/**
 * Canonical exp: x = k·ln2 + r, |r| <= ln2/2, exp(r) by its degree-13 Taylor polynomial (Horner).
 * (Semantics version 1 before release had degree 11: a truncation error of up to 28 ulps.)
 */
export function cexp(x: number): number {
  if (x !== x) return NaN;
  if (x > EXP_OVERFLOW) return Infinity;
  if (x < EXP_UNDERFLOW) return 0;
  const k = Math.floor(x * INV_LN2 + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = EXP_COEFFS[EXP_DEGREE]!;
  for (let i = EXP_DEGREE - 1; i >= 0; i--) p = p * r + EXP_COEFFS[i]!;
  return ldexp(p, k);
}

/** Canonical natural logarithm: x = m·2^e, m in [√½, √2), log m = 2·atanh(f/(2+f)), f = m − 1. */
export function clog(x: number): number {
  if (x !== x || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let e = exponentOf(x);
  let m = ldexp(x, -e); // exact: m in [1, 2)
  if (m > SQRT2) {
    m = m * 0.5;
    e += 1;
  }
  const f = m - 1; // exact (Sterbenz)
  const s = f / (2 + f);
  const z = s * s;
  let q = LOG_COEFFS[8]!;
  for (let i = 7; i >= 0; i--) q = q * z + LOG_COEFFS[i]!;
  // log m = 2s + s·z·q
  const logm = 2 * s + s * (z * q);
  return e * LN2_HI + (logm + e * LN2_LO);
}

/** Canonical logistic sigmoid: 1 / (1 + exp(−x)). */
export function csigmoid(x: number): number {
  return 1 / (1 + cexp(-x));
}

/**
 * Canonical exp(x) − 1: its degree-16 Taylor polynomial (Horner) for |x| < 0.5, else exp(x) − 1.
 * (Before release: degree 12, a truncation error of up to 340 ulps.)
 */
export function cexpm1(x: number): number {
  if (x !== x) return NaN;
  if (Math.abs(x) >= 0.5) return cexp(x) - 1;
  // x·(1 + x/2! + x²/3! + ... + x^15/16!)
  let p = EXP_COEFFS[EXPM1_DEGREE]!;
  for (let i = EXPM1_DEGREE - 1; i >= 1; i--) p = p * x + EXP_COEFFS[i]!;
  return x * p;
}

/** Canonical tanh: x itself below 2^-27, ±1 beyond 20, else m/(m + 2) with m = expm1(2x). */
export function ctanh(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  if (a < f64("0x3e40000000000000")) return x; // 2^-27: tanh(x) = x in binary64
  if (a > 20) return x < 0 ? -1 : 1;
  const m = cexpm1(2 * x);
  return m / (m + 2);
}

/**
 * Canonical erf. |x| < 2: the Maclaurin series, 40 terms; 2 <= |x| < 6: 1 − erfc(|x|) with erfc from
 * its continued fraction (50 levels, evaluated from the bottom); beyond 6: ±1.
 */
export function cerf(x: number): number {
  if (x !== x) return NaN;
  if (x === 0) return x; // erf(±0) = ±0
  const a = Math.abs(x);
  let y: number;
  if (a < 2) {
    // erf(a) = 2/√π · Σ_{n>=0} (−1)^n a^(2n+1) / (n! (2n+1))
    const z = a * a;
    let term = a; // (−1)^n a^(2n+1) / n!
    let sum = a;
    for (let n = 1; n < 40; n++) {
      term = (-term * z) / n;
      sum = sum + term / (2 * n + 1);
    }
    y = TWO_OVER_SQRT_PI * sum;
  } else if (a < 6) {
    // erfc(a) = exp(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
    let t = a;
    for (let k = 50; k >= 1; k--) t = a + (k * 0.5) / t;
    const erfc = (cexp(-(a * a)) * ONE_OVER_SQRT_PI) / t;
    y = 1 - erfc;
  } else {
    y = 1;
  }
  return x < 0 ? -y : y;
}

/** Whether a binary64 value is an integer (finite). */
function isInteger(y: number): boolean {
  return y === Math.floor(y) && Math.abs(y) !== Infinity;
}

/**
 * Whether y is an odd integer: an integer whose half is not one (every binary64 at or beyond 2^53 is
 * even). Floor and exact halving only: the spec used `%` before, which float.ts does not allow.
 */
function isOddInteger(y: number): boolean {
  return isInteger(y) && !isInteger(y * 0.5);
}

/**
 * Canonical pow. Special values as C99 pow (Annex F.10.4.4); exact cases (y = 1, 2, 0.5, −1 as x,
 * x·x, √x, 1/x); then exp(y·log|x|) with the sign of an odd integer power. Its relative error grows
 * with |y·ln x| (the rounding of that product is magnified by exp): (|y·ln x| + 4)·2^-53 measured.
 */
export function cpow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (x !== x || y !== y) return NaN;
  if (y === Infinity || y === -Infinity) {
    const ax = Math.abs(x);
    if (ax === 1) return 1;
    return ax < 1 === y < 0 ? Infinity : 0;
  }
  if (y === 1) return x;
  if (y === 2) return x * x;
  if (y === 0.5 && x > 0) return Math.sqrt(x);
  if (y === -1) return 1 / x;
  if (x === 0) {
    const odd = isOddInteger(y);
    if (y > 0) return odd ? x : 0;
    return odd && Object.is(x, -0) ? -Infinity : Infinity;
  }
  if (x === -Infinity) {
    const odd = isOddInteger(y);
    if (y > 0) return odd ? -Infinity : Infinity;
    return odd ? -0 : 0;
  }
  if (x < 0) {
    if (!isInteger(y)) return NaN;
    const r = cexp(y * clog(-x));
    return isOddInteger(y) ? -r : r;
  }
  return cexp(y * clog(x));
}
