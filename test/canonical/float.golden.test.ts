/**
 * Float64.sol against JS Number arithmetic and canonical/float.ts, bit for bit: hand-picked edge cases
 * (ties, subnormal boundaries, largest/smallest, NaN/Inf/±0, overflow in rounding) crossed with each
 * other, plus seeded random bit patterns and random normal values. Every NaN expected is the canonical
 * one. One deployment; vectors evaluated in batches through CanonicalHarness.evalFloat.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BF16, CANONICAL_NAN, FP16, FP32, TF32, fromBits, fromInt64, pow2, roundTo, scale, toBits, toInt64, type FloatFormat } from "../../canonical/float.js";
import { MASK64, Op, bitsOf, deployHarness, evaluate, f64, hex, rng, type Vec } from "./harness.js";
import { refRound } from "./reference.js";

let harness: any;
beforeAll(async () => {
  ({ harness } = await deployHarness());
});

const NAN = CANONICAL_NAN.fp64;
/** Canonical bits of a JS result (any NaN is the canonical NaN). */
const canon = (x: number) => (x !== x ? NAN : bitsOf(x));
const fmt = { [Op.RoundFp32]: FP32, [Op.RoundFp16]: FP16, [Op.RoundBf16]: BF16, [Op.RoundTf32]: TF32 } as Record<number, FloatFormat>;
const toFmt = { [Op.ToFp32]: FP32, [Op.ToFp16]: FP16, [Op.ToBf16]: BF16, [Op.ToTf32]: TF32 } as Record<number, FloatFormat>;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The expected result of a vector from JS Number arithmetic (and float.ts where JS has no operator). */
function expected(v: Vec): bigint {
  const x = f64(v.a);
  const y = f64(v.b);
  switch (v.op) {
    case Op.Add: return canon(x + y);
    case Op.Sub: return canon(x - y);
    case Op.Mul: return canon(x * y);
    case Op.Div: return canon(x / y);
    case Op.Sqrt: return canon(Math.sqrt(x));
    case Op.Eq: return x === y ? 1n : 0n;
    case Op.Lt: return x < y ? 1n : 0n;
    case Op.Le: return x <= y ? 1n : 0n;
    case Op.Neg: return canon(-x);
    case Op.Abs: return canon(Math.abs(x));
    case Op.Floor: return canon(Math.floor(x));
    case Op.Trunc: return canon(Math.trunc(x));
    case Op.Ldexp: return canon(scale(x, Number(BigInt.asIntN(64, v.b))));
    case Op.FromInt64: return canon(fromInt64(BigInt.asIntN(64, v.a)));
    case Op.ToInt64: return BigInt.asUintN(64, toInt64(x));
    case Op.RoundFp32: return canon(Math.fround(x));
    case Op.RoundFp16: case Op.RoundBf16: case Op.RoundTf32: return canon(roundTo(x, fmt[v.op]!));
    case Op.ToFp32: {
      f32[0] = x;
      return x !== x ? BigInt(CANONICAL_NAN.fp32) : BigInt(u32[0]!);
    }
    case Op.ToFp16: case Op.ToBf16: case Op.ToTf32: return BigInt(toBits(x, toFmt[v.op]!));
    case Op.FromFp32: {
      u32[0] = Number(v.a & 0xffffffffn);
      return canon(f32[0]!);
    }
    case Op.FromFp16: return canon(fromBits(Number(v.a & 0xffffn), FP16));
    case Op.FromBf16: return canon(fromBits(Number(v.a & 0xffffn), BF16));
  }
  throw new Error(`no reference for op ${v.op}`);
}

async function check(vecs: Vec[], batch = 250): Promise<void> {
  const got = await evaluate(harness, "evalFloat", vecs, batch);
  const bad: string[] = [];
  vecs.forEach((v, i) => {
    const want = expected(v) & MASK64;
    if (got[i] !== want && bad.length < 10) bad.push(`op ${v.op} a=${hex(v.a)} b=${hex(v.b)}: got ${hex(got[i]!)} want ${hex(want)}`);
  });
  expect(bad).toEqual([]);
}

const E = (s: string) => BigInt(s);
/** Hand-picked binary64 edge patterns (both signs added below). */
/** Binary64 edge patterns (positive): what matters to the arithmetic itself. */
const EDGE_POS_64: bigint[] = [
  0n, 1n, 2n, 3n, 0x000fffffffffffffn, 0x0010000000000000n, 0x0010000000000001n, 0x001fffffffffffffn, 0x0008000000000000n,
  E("0x3ff0000000000000"), E("0x3ff0000000000001"), E("0x3fefffffffffffff"), E("0x3fe0000000000000"), E("0x3ff8000000000000"),
  E("0x4000000000000000"), E("0x4008000000000000"), E("0x3fb999999999999a"), E("0x3fd5555555555555"),
  E("0x4330000000000000"), E("0x4330000000000001"), E("0x432fffffffffffff"), E("0x4340000000000000"), E("0x4340000000000001"),
  E("0x7fefffffffffffff"), E("0x7fe0000000000000"), E("0x7ff0000000000000"), E("0x7ff8000000000000"), E("0x7ff0000000000001"),
  E("0x7fffffffffffffff"), E("0x3ca0000000000000"), E("0x3cb0000000000000"), E("0x0360000000000000"), E("0x1ff0000000000000"),
  E("0x5ff0000000000000"), E("0x43e0000000000000"), E("0x43dfffffffffffff"), E("0x43e0000000000001"),
];
/** Narrow-format boundaries (positive): what matters to rounding to fp32, fp16, bf16 and tf32. */
const EDGE_POS_NARROW: bigint[] = [
  // fp32: max, max + half ulp (a tie rounding to Inf), min subnormal, half of it (tie to 0), 1.5 of it
  E("0x47efffffe0000000"), E("0x47effffff0000000"), E("0x47effffff0000001"), E("0x36a0000000000000"), E("0x3690000000000000"),
  E("0x3698000000000000"), E("0x3810000000000000"), E("0x380fffffe0000000"), E("0x380ffffff0000000"),
  // fp32 ties at 1: 1 + 2^-24 (to even: 1), 1 + 3·2^-24 (to even: up)
  E("0x3ff0000010000000"), E("0x3ff0000030000000"), E("0x3ff0000010000001"),
  // fp16: max 65504, 65520 (tie to Inf), 2^-24 (min subnormal), 2^-25 (tie to 0), 2^-14, 1 + 2^-11
  E("0x40effc0000000000"), E("0x40effe0000000000"), E("0x40effdffffffffff"), E("0x3e70000000000000"), E("0x3e60000000000000"),
  E("0x3e68000000000000"), E("0x3f10000000000000"), E("0x3ff0020000000000"), E("0x3ff0060000000000"),
  // bf16 and tf32 ties: 1 + 2^-8, 1 + 3·2^-8, 1 + 2^-11 + 2^-40
  E("0x3ff0100000000000"), E("0x3ff0300000000000"), E("0x3ff0020000010000"),
  // bf16 max and its tie, tf32 subnormal boundary 2^-136
  E("0x47efe00000000000"), E("0x47eff00000000000"), E("0x3770000000000000"), E("0x3768000000000000"),
];
const signed = (xs: bigint[]) => [...xs, ...xs.map((b) => b | (1n << 63n))];
const EDGE_POS: bigint[] = [...EDGE_POS_64, ...EDGE_POS_NARROW];
/** Every edge with both signs: the operands of the one-operand operations. */
const EDGES: bigint[] = signed(EDGE_POS);
/** The operands crossed in pairs: the binary64 edges and a few narrow ones (arbitrary doubles to them). */
const PAIR_POS: bigint[] = [...EDGE_POS_64, E("0x47efffffe0000000"), E("0x36a0000000000000"), E("0x3ff0000010000000"), E("0x40effc0000000000")];
const PAIR_EDGES: bigint[] = signed(PAIR_POS);
const INT_EDGES: bigint[] = [0n, 1n, -1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 54n + 2n, 2n ** 54n + 6n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 63n) + 1n,
  2n ** 62n + 2n ** 9n, 2n ** 62n + 3n * 2n ** 9n, 12345678901234567n, -98765432109876543n];
const K_EDGES = [-5000, -2200, -2098, -1100, -1076, -1075, -1074, -1073, -1060, -1023, -1022, -1021, -54, -53, -1, 0, 1, 52, 53, 1023, 1024, 2046, 2100, 5000];

describe("Float64 (golden, bit for bit with JS Number arithmetic and canonical/float.ts)", () => {
  it("test_arithmetic_edgePairs_matchJs", async () => {
    const vecs: Vec[] = [];
    // every pair for add; mul and div take the sign as an exclusive or, so a positive left operand
    // suffices; every second pair (each edge still on each side) for sub and the comparisons
    for (const a of PAIR_EDGES) for (const b of PAIR_EDGES) vecs.push({ op: Op.Add, a, b });
    for (const op of [Op.Mul, Op.Div]) for (const a of PAIR_POS) for (const b of PAIR_EDGES) vecs.push({ op, a, b });
    PAIR_EDGES.forEach((a, i) => PAIR_EDGES.forEach((b, j) => {
      if ((i + j) % 2 === 0) for (const op of [Op.Sub, Op.Eq, Op.Lt, Op.Le]) vecs.push({ op, a, b });
    }));
    for (const op of [Op.Sqrt, Op.Neg, Op.Abs, Op.Floor, Op.Trunc, Op.ToInt64, Op.RoundFp32, Op.RoundFp16, Op.RoundBf16, Op.RoundTf32, Op.ToFp32, Op.ToFp16, Op.ToBf16, Op.ToTf32])
      for (const a of EDGES) vecs.push({ op, a, b: 0n });
    await check(vecs);
  });

  it("test_arithmetic_randomBitPatterns_matchJs", async () => {
    const r = rng(11);
    const vecs: Vec[] = [];
    for (const op of [Op.Add, Op.Sub, Op.Mul, Op.Div, Op.Sqrt, Op.Lt, Op.Floor, Op.Trunc, Op.ToInt64, Op.RoundFp32, Op.RoundFp16, Op.RoundBf16, Op.RoundTf32, Op.ToFp32, Op.ToFp16, Op.ToBf16, Op.ToTf32])
      for (let i = 0; i < 400; i++) vecs.push({ op, a: r.bits64(), b: r.bits64() });
    await check(vecs);
  });

  it("test_arithmetic_randomNormals_ties_subnormalResults_matchJs", async () => {
    const r = rng(12);
    const vecs: Vec[] = [];
    const ops = [Op.Add, Op.Sub, Op.Mul, Op.Div, Op.Sqrt];
    for (let i = 0; i < 600; i++) {
      // close exponents (cancellation, carries), near-equal values, ties one half-ulp away
      const x = r.normal(-8, 8);
      const y = r.normal(-8, 8);
      const near = x * (1 + r.normal(-50, -20));
      const halfUlp = scale(1, Math.floor(Math.log2(Math.abs(x))) - 53) * (r.next() < 0.5 ? 1 : 3);
      for (const op of ops) {
        vecs.push({ op, a: bitsOf(x), b: bitsOf(y) });
        vecs.push({ op, a: bitsOf(x), b: bitsOf(near) });
        vecs.push({ op, a: bitsOf(x), b: bitsOf(halfUlp) });
      }
      // subnormal and overflowing products and quotients, narrow-format subnormals
      const tiny = r.normal(-560, -500);
      const huge = r.normal(500, 530);
      vecs.push({ op: Op.Mul, a: bitsOf(tiny), b: bitsOf(r.normal(-560, -500)) });
      vecs.push({ op: Op.Div, a: bitsOf(tiny), b: bitsOf(r.normal(500, 560)) });
      vecs.push({ op: Op.Mul, a: bitsOf(huge), b: bitsOf(r.normal(490, 530)) });
      vecs.push({ op: Op.Add, a: r.bits64() & 0x801fffffffffffffn, b: r.bits64() & 0x801fffffffffffffn });
      vecs.push({ op: Op.Sqrt, a: r.bits64() & 0x000fffffffffffffn, b: 0n });
      for (const op of [Op.RoundFp32, Op.ToFp32, Op.ToTf32, Op.ToBf16]) vecs.push({ op, a: bitsOf(r.normal(-152, -120)), b: 0n });
      for (const op of [Op.RoundFp16, Op.ToFp16]) vecs.push({ op, a: bitsOf(r.normal(-26, 16)), b: 0n });
      vecs.push({ op: Op.Floor, a: bitsOf(r.normal(-3, 60)), b: 0n });
      vecs.push({ op: Op.ToInt64, a: bitsOf(r.normal(-3, 64)), b: 0n });
    }
    await check(vecs);
  });

  it("test_ldexp_intConversions_widening_matchJs", async () => {
    const r = rng(13);
    const vecs: Vec[] = [];
    const as = [...EDGES, ...Array.from({ length: 60 }, () => r.bits64())];
    for (const a of as) for (const k of K_EDGES) vecs.push({ op: Op.Ldexp, a, b: BigInt(k) });
    for (let i = 0; i < 500; i++) vecs.push({ op: Op.Ldexp, a: r.bits64(), b: BigInt(r.int(-2200, 2200)) });
    for (const n of INT_EDGES) vecs.push({ op: Op.FromInt64, a: n, b: 0n });
    for (let i = 0; i < 500; i++) vecs.push({ op: Op.FromInt64, a: r.bits64() >> BigInt(r.int(0, 63)), b: 0n });
    for (let i = 0; i < 300; i++) vecs.push({ op: Op.FromInt64, a: -(r.bits64() >> BigInt(r.int(1, 63))), b: 0n });
    // widening: every fp16 and bf16 pattern in a stride that covers all exponents, fp32 edges and random
    for (let bits = 0; bits < 65536; bits += 29) {
      vecs.push({ op: Op.FromFp16, a: BigInt(bits), b: 0n });
      vecs.push({ op: Op.FromBf16, a: BigInt(bits), b: 0n });
    }
    const f32Edges = [0, 1, 0x7fffff, 0x800000, 0x3f800000, 0x7f7fffff, 0x7f800000, 0x7fc00000, 0x7f800001, 0x7fffffff];
    for (const b of f32Edges) for (const s of [0, 0x80000000]) vecs.push({ op: Op.FromFp32, a: BigInt(b + s), b: 0n });
    for (let i = 0; i < 500; i++) vecs.push({ op: Op.FromFp32, a: r.bits64() & 0xffffffffn, b: 0n });
    await check(vecs);
  });
});

describe("Float64.pow2", () => {
  it("test_pow2_normalRange_matchesFloatTs_outside_reverts", async () => {
    for (const k of [-1022, -1021, -537, -1, 0, 1, 52, 512, 1023]) expect(BigInt(await harness.pow2(k))).toBe(bitsOf(pow2(k)));
    for (const k of [-1023, 1024, -5000]) {
      await expect(harness.pow2(k)).rejects.toThrow(/Float64ExponentOutOfRange/);
      expect(() => pow2(k)).toThrow(RangeError);
    }
  });
});

describe("canonical/float.ts against an exact BigInt reference", () => {
  it("test_roundTo_toBits_scale_matchExactRounding", () => {
    const r = rng(14);
    const xs = [...EDGES.map(f64), ...Array.from({ length: 3000 }, () => f64(r.bits64())), ...Array.from({ length: 3000 }, () => r.normal(-160, 20))];
    const bad: string[] = [];
    for (const x of xs) {
      if (x !== x) continue;
      for (const format of [FP32, FP16, BF16, TF32]) {
        const want = refRound(x, format.p, format.emin, format.emax);
        if (!Object.is(roundTo(x, format), want) && bad.length < 10) bad.push(`roundTo(${x}, ${format.name}) = ${roundTo(x, format)}, want ${want}`);
        if (!Object.is(fromBits(toBits(x, format), format), want) && bad.length < 10) bad.push(`toBits/fromBits(${x}, ${format.name})`);
      }
      for (const k of [r.int(-1200, 1200), K_EDGES[r.int(0, K_EDGES.length - 1)]!]) {
        const want = refRound(x, 53, -1022, 1023, k);
        if (!Object.is(scale(x, k), want) && bad.length < 10) bad.push(`scale(${x}, ${k}) = ${scale(x, k)}, want ${want}`);
      }
      const k = r.int(-1200, 1200);
      if (k >= -1074 && k <= 1023 && !Object.is(scale(x, k), x * 2 ** k) && bad.length < 10) bad.push(`scale(${x}, ${k}) != x·2^k`);
    }
    expect(bad).toEqual([]);
    expect(toBits(Math.fround(3.4028235677973366e38), FP32)).toBe(0x7f800000);
    expect(toBits(65520, FP16)).toBe(0x7c00);
    expect(toBits(-(2 ** -25), FP16)).toBe(0x8000);
    expect(toBits(NaN, BF16)).toBe(CANONICAL_NAN.bf16);
    expect(toInt64(2 ** 63)).toBe(2n ** 63n - 1n);
    expect(toInt64(-(2 ** 63))).toBe(-(2n ** 63n));
    expect(toInt64(-1.9)).toBe(-1n);
    expect(toInt64(NaN)).toBe(0n);
    expect(fromInt64(2n ** 53n + 1n)).toBe(2 ** 53);
    expect(fromInt64(2n ** 54n + 6n)).toBe(2 ** 54 + 8);
  });
});
