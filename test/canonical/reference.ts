/** An exact reference for rounding, in BigInt: independent of canonical/float.ts's float operations. */
import { bitsOf } from "../../canonical/float.js";

/**
 * x · 2^k rounded to nearest-even in the binary format (p, emin, emax), subnormals kept, overflow to
 * ±Infinity, computed exactly with integers. x must not be NaN.
 */
export function refRound(x: number, p: number, emin: number, emax: number, k = 0): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const bits = bitsOf(x);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  let e = -1074;
  if (biased !== 0) {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  e += k;
  const len = m.toString(2).length;
  let q = Math.max(e + len - p, emin - p + 1);
  let r: bigint;
  if (q <= e) r = m << BigInt(e - q);
  else {
    const shift = BigInt(q - e);
    r = m >> shift;
    const rem = m - (r << shift);
    const half = 1n << (shift - 1n);
    if (rem > half || (rem === half && (r & 1n) === 1n)) r += 1n;
    if (r >> BigInt(p) !== 0n) {
      r >>= 1n;
      q += 1;
    }
  }
  let v: number;
  if (r === 0n) v = 0;
  else if (q + r.toString(2).length - 1 > emax) v = Infinity;
  else v = Number(r) * 2 ** q; // exact: r < 2^53 and q >= -1074 ... see below
  return negative ? -v : v;
}
