/**
 * CanonicalMath.sol against canonical/math.ts, bit for bit: every transcendental over seeded inputs
 * across its ranges and their edges (branch thresholds, overflow and underflow, subnormals, NaN, ±Inf,
 * ±0). One deployment; vectors evaluated in batches through CanonicalHarness.evalMath.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CANONICAL_NAN } from "../../canonical/float.js";
import { cerf, cexp, cexpm1, clog, cpow, csigmoid, ctanh, EXP_OVERFLOW, EXP_UNDERFLOW } from "../../canonical/math.js";
import { Fn, MASK64, bitsOf, deployHarness, evaluate, f64, hex, rng, type FnName, type Vec } from "./harness.js";

let harness: any;
beforeAll(async () => {
  ({ harness } = await deployHarness());
});

const canon = (x: number) => (x !== x ? CANONICAL_NAN.fp64 : bitsOf(x));
const FNS: Record<FnName, (x: number, y: number) => number> = {
  cexp: (x) => cexp(x), cexpm1: (x) => cexpm1(x), clog: (x) => clog(x), csigmoid: (x) => csigmoid(x),
  ctanh: (x) => ctanh(x), cerf: (x) => cerf(x), cpow: (x, y) => cpow(x, y), nop: (x) => x,
};
const byCode = Object.fromEntries(Object.entries(Fn).map(([name, code]) => [code, FNS[name as FnName]]));

async function check(vecs: Vec[], batch: number): Promise<void> {
  const got = await evaluate(harness, "evalMath", vecs, batch);
  const bad: string[] = [];
  vecs.forEach((v, i) => {
    const want = canon(byCode[v.op]!(f64(v.a), f64(v.b))) & MASK64;
    if (got[i] !== want && bad.length < 10) bad.push(`fn ${v.op} (${f64(v.a)}, ${f64(v.b)}) a=${hex(v.a)}: got ${hex(got[i]!)} want ${hex(want)}`);
  });
  expect(bad).toEqual([]);
}

const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 1, -1, 0.5, -0.5, 2, -2, 6, -6, 20, -20];
const near = (x: number) => [x, f64(bitsOf(x) + 1n), f64(bitsOf(x) - 1n)].filter((v) => v === v);
/** Branch thresholds of each function, with their binary64 neighbours. */
const EDGES: Record<string, number[]> = {
  cexp: [EXP_OVERFLOW, EXP_UNDERFLOW, -EXP_OVERFLOW, 0.34657359027997264, -0.34657359027997264, 1e-300, -708.3964185322641, -744.44].flatMap(near),
  cexpm1: [0.5, -0.5, 1e-20, -1e-20, 1e-310].flatMap(near),
  clog: [1, 1.4142135623730951, 0.7071067811865476, 2, 0.5, 1e-310, 5e-324, 1.7976931348623157e308].flatMap(near),
  ctanh: [2 ** -27, -(2 ** -27), 20, -20, 0.25, -0.25].flatMap(near),
  cerf: [2, -2, 6, -6, 1e-300, 1.5].flatMap(near),
};

describe("CanonicalMath (golden, bit for bit with canonical/math.ts)", () => {
  it("test_unary_seededInputsAndEdges_matchMathTs", async () => {
    const r = rng(21);
    const u = (lo: number, hi: number) => lo + (hi - lo) * r.next();
    const inputs: Record<string, number[]> = {
      cexp: [...Array.from({ length: 60 }, () => u(-750, 712)), ...Array.from({ length: 30 }, () => u(-1, 1)), ...Array.from({ length: 20 }, () => f64(r.bits64()))],
      cexpm1: [...Array.from({ length: 50 }, () => u(-0.5, 0.5)), ...Array.from({ length: 30 }, () => u(-40, 710)), ...Array.from({ length: 20 }, () => r.normal(-60, -1))],
      clog: [...Array.from({ length: 50 }, () => f64(r.bits64() & 0x7fffffffffffffffn)), ...Array.from({ length: 30 }, () => u(0.6, 1.5)), ...Array.from({ length: 20 }, () => f64(r.bits64() & 0x000fffffffffffffn))],
      csigmoid: [...Array.from({ length: 60 }, () => u(-40, 40)), ...Array.from({ length: 20 }, () => u(-800, 800))],
      ctanh: [...Array.from({ length: 60 }, () => u(-22, 22)), ...Array.from({ length: 20 }, () => r.normal(-30, 0))],
      cerf: [...Array.from({ length: 40 }, () => u(-7, 7)), ...Array.from({ length: 20 }, () => u(1.9, 2.1) * (r.next() < 0.5 ? -1 : 1)), ...Array.from({ length: 10 }, () => r.normal(-40, 0))],
    };
    const vecs: Vec[] = [];
    for (const [name, xs] of Object.entries(inputs))
      for (const x of [...xs, ...SPECIAL, ...(EDGES[name] ?? [])]) vecs.push({ op: Fn[name as FnName], a: bitsOf(x), b: 0n });
    // cerf is the most expensive (about 40 loop rounds): smaller batches keep each call under the gas cap
    await check(vecs.filter((v) => v.op !== Fn.cerf), 60);
    await check(vecs.filter((v) => v.op === Fn.cerf), 15);
  });

  it("test_cpow_seededInputsAndSpecialValues_matchMathTs", async () => {
    const r = rng(22);
    const u = (lo: number, hi: number) => lo + (hi - lo) * r.next();
    const vecs: Vec[] = [];
    const push = (x: number, y: number) => vecs.push({ op: Fn.cpow, a: bitsOf(x), b: bitsOf(y) });
    for (let i = 0; i < 150; i++) push(u(0, 20), u(-30, 30));
    for (let i = 0; i < 50; i++) push(-u(0, 20), Math.round(u(-40, 40)));
    for (let i = 0; i < 25; i++) push(-u(0, 5), u(-3, 3));
    for (let i = 0; i < 40; i++) push(f64(r.bits64()), f64(r.bits64()));
    const ys = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 2 ** 53, 2 ** 53 + 2, 2 ** 52 + 1, 1.5, Infinity, -Infinity, NaN, 1e300, -1e300];
    const xs = [0, -0, 1, -1, 2, -2, 0.5, -0.5, Infinity, -Infinity, NaN, 1e-310, -3, 1e300];
    for (const x of xs) for (const y of ys) push(x, y);
    await check(vecs, 40);
  });
});
