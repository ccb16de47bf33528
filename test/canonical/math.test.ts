/**
 * canonical/math.ts as a specification: accuracy against high-precision references (mpmath at 200
 * bits, pinned in golden/math-reference.json: input, correctly rounded result) and the special values
 * of C99 pow. The bounds are the measured worst cases with a small margin (docs/CANONICAL-NUMBERS.md);
 * a spec edit that loses accuracy fails here.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { bitsOf, f64 } from "../../canonical/float.js";
import { cerf, cexp, cexpm1, clog, cpow, csigmoid, ctanh } from "../../canonical/math.js";

const REF: Record<string, string[][]> = JSON.parse(readFileSync(fileURLToPath(new URL("./golden/math-reference.json", import.meta.url)), "utf8"));

/** Distance in ulps of the reference's binade between got and the correctly rounded want. */
function ulps(got: number, want: number): number {
  const ulp = Math.abs(f64(bitsOf(Math.abs(want)) + 1n) - Math.abs(want));
  return Math.abs(got - want) / ulp;
}

const UNARY: Record<string, [(x: number) => number, number]> = {
  cexp: [cexp, 1.5],
  cexpm1: [cexpm1, 2.5],
  clog: [clog, 1.5],
  csigmoid: [csigmoid, 2],
  ctanh: [ctanh, 3],
  cerf: [cerf, 16],
};

describe("canonical/math.ts accuracy", () => {
  for (const [name, [fn, bound]] of Object.entries(UNARY)) {
    it(`test_${name}_againstMpmath_withinBound`, () => {
      const worst = Math.max(...REF[name]!.map(([x, want]) => ulps(fn(f64(x!)), f64(want!))));
      expect(worst).toBeLessThanOrEqual(bound);
    });
  }

  it("test_cpow_againstMpmath_withinYLogXBound", () => {
    for (const [x, y, want] of REF.cpow!) {
      const [xv, yv] = [f64(x!), f64(y!)];
      // rounding y·ln x is magnified by exp: (|y·ln x| + 4) binary64 rounding units, relative
      expect(ulps(cpow(xv, yv), f64(want!))).toBeLessThanOrEqual(2 * (Math.abs(yv * Math.log(xv)) + 4));
    }
  });

  it("test_cpow_specialValues_followC99", () => {
    const cases: [number, number, number][] = [
      [NaN, 0, 1], [1, NaN, 1], [1, Infinity, 1], [-1, Infinity, 1], [-1, -Infinity, 1], [0.5, Infinity, 0],
      [0.5, -Infinity, Infinity], [-0.5, Infinity, 0], [3, Infinity, Infinity], [-3, -Infinity, 0],
      [-0, 3, -0], [-0, 2, 0], [-0, -3, -Infinity], [0, -3, Infinity], [-0, -2, Infinity], [-0, 0.5, 0],
      [-Infinity, 3, -Infinity], [-Infinity, 2, Infinity], [-Infinity, -3, -0], [-Infinity, -2, 0],
      [-Infinity, 0.5, Infinity], [Infinity, -2, 0], [-8, 1 / 3, NaN], [-2, 2 ** 53 + 2, Infinity],
      [2, 0.5, Math.SQRT2], [4, -1, 0.25], [NaN, 2, NaN],
    ];
    for (const [x, y, want] of cases) expect(cpow(x, y), `cpow(${x}, ${y})`).toBe(want);
    expect(cpow(-2, 5)).toBeCloseTo(-32, 12);
    expect(cpow(-2, 3)).toBeCloseTo(-8, 13);
  });

  it("test_cerf_ctanh_oddAndSignedZero", () => {
    expect(Object.is(cerf(-0), -0)).toBe(true);
    expect(Object.is(ctanh(-0), -0)).toBe(true);
    expect(cerf(-1.25)).toBe(-cerf(1.25));
    expect(cerf(7)).toBe(1);
    expect(ctanh(-25)).toBe(-1);
  });
});
