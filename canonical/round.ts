/**
 * Fast rounding of a binary64 value to a narrower format, for the runtime's fp16/bf16 storage: the
 * same function as canonical/float.ts's `roundTo` (round to nearest, ties to even; subnormals kept;
 * overflow to ±Infinity; signed zeros and NaN pass through), without BigInt. float.ts stays the
 * definition; test/canonical/run.test.ts checks this one against it.
 *
 * Method: with q the target quantum at |x|'s exponent (clamped to the format's emin) and C = q·2^52,
 * the binary64 sum |x| + C is C + (|x| rounded to a multiple of q, ties to even): one IEEE addition
 * whose ulp is exactly q. Subtracting C is exact.
 */
import type { FloatFormat } from "./float.js";

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
// Little-endian hosts (every platform Node runs on): word 1 holds the sign, exponent and high fraction.
const HI = 1;

/** 2^k for −1022 <= k <= 1023, built from its bits. */
function pow2(k: number): number {
  U32[0] = 0;
  U32[HI] = (k + 1023) << 20;
  return F64[0]!;
}

export function makeRounder(format: FloatFormat): (x: number) => number {
  const { p, emin, emax } = format;
  const overflow = pow2(emax + 1);
  return (x: number): number => {
    if (x !== x || x === 0 || x === Infinity || x === -Infinity) return x;
    const a = Math.abs(x);
    F64[0] = a;
    const biased = U32[HI]! >>> 20;
    let r: number;
    if (biased === 0) r = 0; // a binary64 subnormal: far below half the smallest subnormal of any target
    else {
      let e = biased - 1023;
      if (e > emax) r = Infinity;
      else {
        if (e < emin) e = emin;
        const c = pow2(e - p + 53);
        r = a + c - c;
        if (r >= overflow) r = Infinity;
      }
    }
    return x < 0 ? -r : r;
  };
}
