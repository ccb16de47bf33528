/**
 * contracts/redundancy/OutputAgreement.sol through a harness: agreement of two canonical encodings within
 * τ_out, element by element, both ways (OutputTolerance's `within` semantics), for every float dtype
 * (float32, float16 bits, float64), exact integers and bools, shapes and dtypes that differ, and bundles of
 * named tensors (several-output models).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { encodeTensor, encodeBundle, seededRandom } from "../../protocol/index.js";
import { f64 } from "./redundancy-fixture.js";

const hex = (b: Uint8Array) => "0x" + Buffer.from(b).toString("hex");
const f32 = (data: number[], shape = [data.length]) => encodeTensor({ dtype: "float32", shape, data: Float32Array.from(data) });

describe("OutputAgreement", () => {
  let h: any;
  const ABS = f64(1e-3);
  const REL = f64(1e-2);
  const agree = (a: Uint8Array, b: Uint8Array, abs = ABS, rel = REL): Promise<boolean> => h.agree(hex(a), hex(b), abs, rel);
  beforeAll(async () => {
    const conn = await network.create();
    h = await conn.ethers.deployContract("OutputAgreementHarness", []);
  });

  it("test_float32_withinAbsAndRel_bothWays", async () => {
    expect(await agree(f32([0.5, 100]), f32([0.5009, 100.9]))).toBe(true);
    expect(await agree(f32([0.5, 100]), f32([0.507, 100]))).toBe(false);
    expect(await agree(f32([0.5, 100]), f32([0.5, 102.5]))).toBe(false);
    // Relative term one-sided: 1.0 vs 1.01105 passes against 1.01105 only; rejected both orders.
    expect(await agree(f32([1.0]), f32([1.01105]))).toBe(false);
    expect(await agree(f32([1.01105]), f32([1.0]))).toBe(false);
  });

  it("test_specialValues_nanAnyBits_infSameSignOnly", async () => {
    const bits = (u: number[]) => {
      const t = f32(u.map(() => 0));
      u.forEach((b, i) => t.writeUInt32LE(b >>> 0, t.length - 4 * u.length + 4 * i));
      return t;
    };
    expect(await agree(bits([0x7fc00000]), bits([0xffc00001]))).toBe(true);
    expect(await agree(bits([0x7fc00000]), f32([0]))).toBe(false);
    expect(await agree(f32([Infinity]), f32([Infinity]))).toBe(true);
    expect(await agree(f32([Infinity]), f32([-Infinity]))).toBe(false);
    expect(await agree(f32([Infinity]), f32([3.4e38]), f64(1e39), 0n)).toBe(false);
    expect(await agree(f32([0]), f32([-0]), 0n, 0n)).toBe(true);
  });

  it("test_float16_and_float64", async () => {
    // float16 bits: 0x3c00 = 1.0, 0x3c01 = 1.0009765625, 0x3c10 = 1.015625.
    const h16 = (v: number[]) => encodeTensor({ dtype: "float16", shape: [v.length], data: Uint16Array.from(v) });
    expect(await agree(h16([0x3c00]), h16([0x3c01]))).toBe(true);
    expect(await agree(h16([0x3c00]), h16([0x3c10]))).toBe(false);
    const d = (v: number[]) => encodeTensor({ dtype: "float64", shape: [v.length], data: Float64Array.from(v) });
    expect(await agree(d([1e-9, 2]), d([2e-9, 2.0005]))).toBe(true);
    expect(await agree(d([1e-9, 2]), d([2e-9, 2.1]))).toBe(false);
  });

  it("test_integersExact_shapeAndDtypeMustMatch", async () => {
    const i8 = (v: number[]) => encodeTensor({ dtype: "int8", shape: [v.length], data: Int8Array.from(v) });
    expect(await agree(i8([1, 2, 3]), i8([1, 2, 3]))).toBe(true);
    expect(await agree(i8([1, 2, 3]), i8([1, 2, 4]), f64(10), f64(10))).toBe(false);
    expect(await agree(f32([0.5, 0.5], [1, 2]), f32([0.5, 0.5], [2, 1]))).toBe(false);
    expect(await agree(f32([0.5, 0.5]), f32([0.5, 0.5, 0.5]))).toBe(false);
    const f64t = encodeTensor({ dtype: "float64", shape: [2], data: Float64Array.from([0.5, 0.5]) });
    expect(await agree(f32([0.5, 0.5]), f64t)).toBe(false);
  });

  it("test_bundles_entryByEntry_sameNames", async () => {
    const t = (p: number) => ({ dtype: "float32" as const, shape: [2], data: Float32Array.from([p, 1 - p]) });
    const a = encodeBundle({ boxes: t(0.3), scores: t(0.9) });
    const b = encodeBundle({ boxes: t(0.3005), scores: t(0.9004) });
    const c = encodeBundle({ boxes: t(0.3), scores: t(0.8) });
    const renamed = encodeBundle({ boxez: t(0.3), scores: t(0.9) });
    expect(await agree(a, b)).toBe(true);
    expect(await agree(a, c)).toBe(false);
    expect(await agree(a, renamed)).toBe(false);
    expect(await agree(a, f32([0.3, 0.7]))).toBe(false);
  });

  it("test_withinBothWays_equalsWithinTwice_randomized", async () => {
    // The one-subtraction form the library uses against OutputTolerance's `within` checked both ways, over
    // random doubles near each other, signed zeros, subnormals, NaNs and infinities, and random tolerances.
    const rnd = seededRandom(18_0019);
    const specials = [0, -0, 5e-324, -5e-324, Infinity, -Infinity, NaN, 1, -1, 1e308, -1e308];
    const pick = () => {
      const r = rnd();
      if (r < 0.15) return specials[Math.floor(rnd() * specials.length)]!;
      return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 6);
    };
    let checked = 0;
    for (let i = 0; i < 150; i++) {
      const x = pick();
      const y = rnd() < 0.6 ? x * (1 + (rnd() - 0.5) * 0.05) + (rnd() - 0.5) * 1e-3 : pick();
      const abs = rnd() < 0.3 ? 0 : rnd() * 1e-2;
      const rel = rnd() < 0.3 ? 0 : rnd() * 5e-2;
      const [twice, once] = await h.bothWays(f64(x), f64(y), f64(abs), f64(rel));
      expect(once, `x=${x} y=${y} abs=${abs} rel=${rel}`).toBe(twice);
      if (twice) checked++;
    }
    // Both outcomes occur.
    expect(checked).toBeGreaterThan(10);
    expect(checked).toBeLessThan(140);
  });
});
