/**
 * Shared by the canonical golden tests and bench/canonical-gas.ts: one CanonicalHarness deployment,
 * operations evaluated in batches (thousands per eth_call), vectors as binary64 bit patterns.
 */
import { network } from "hardhat";
import { bitsOf, f64 } from "../../canonical/float.js";
import { seededRandom } from "../../protocol/index.js";

/** CanonicalHarness.Op, in the contract's order. */
export const Op = {
  Add: 0, Sub: 1, Mul: 2, Div: 3, Sqrt: 4, Eq: 5, Lt: 6, Le: 7, Neg: 8, Abs: 9, Floor: 10, Trunc: 11,
  Ldexp: 12, FromInt64: 13, ToInt64: 14, RoundFp32: 15, RoundFp16: 16, RoundBf16: 17, RoundTf32: 18,
  ToFp32: 19, ToFp16: 20, ToBf16: 21, ToTf32: 22, FromFp32: 23, FromFp16: 24, FromBf16: 25, Nop: 26,
} as const;
export type OpName = keyof typeof Op;

/** CanonicalHarness.Fn (transcendentals), in the contract's order. */
export const Fn = { cexp: 0, cexpm1: 1, clog: 2, csigmoid: 3, ctanh: 4, cerf: 5, cpow: 6, nop: 7 } as const;
export type FnName = keyof typeof Fn;

export const MASK64 = (1n << 64n) - 1n;

/** A vector: operation code and its two operands as 64-bit patterns. */
export interface Vec {
  op: number;
  a: bigint;
  b: bigint;
}

export async function deployHarness() {
  const conn = await network.create();
  const harness: any = await conn.ethers.deployContract("CanonicalHarness");
  return { conn, harness };
}

/** Packs vectors as CanonicalHarness records: `u8 op || u64 a || u64 b`, big-endian. */
export function pack(vecs: Vec[]): string {
  const buf = Buffer.alloc(vecs.length * 17);
  vecs.forEach((v, i) => {
    buf.writeUInt8(v.op, i * 17);
    buf.writeBigUInt64BE(v.a & MASK64, i * 17 + 1);
    buf.writeBigUInt64BE(v.b & MASK64, i * 17 + 9);
  });
  return "0x" + buf.toString("hex");
}

/** Evaluates vectors through `method` in batches of `batch` per call; returns the 64-bit results. */
export async function evaluate(harness: any, method: "evalFloat" | "evalMath", vecs: Vec[], batch: number): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let i = 0; i < vecs.length; i += batch) {
    const res: string = await harness[method].staticCall(pack(vecs.slice(i, i + batch)), { gasLimit: 16_000_000n });
    const buf = Buffer.from(res.slice(2), "hex");
    for (let j = 0; j < buf.length; j += 8) out.push(buf.readBigUInt64BE(j));
  }
  return out;
}

/** A seeded source of 64-bit patterns and doubles. */
export function rng(seed: number) {
  const next = seededRandom(seed);
  const u32 = () => BigInt(Math.floor(next() * 4294967296));
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    bits64: () => (u32() << 32n) | u32(),
    /** A random normal double sign·(1 + f)·2^e with e in [elo, ehi]. */
    normal: (elo: number, ehi: number) => {
      const e = elo + Math.floor(next() * (ehi - elo + 1));
      const frac = (u32() << 20n) | (u32() >> 12n);
      const sign = next() < 0.5 ? 1n << 63n : 0n;
      return f64(sign | (BigInt(e + 1023) << 52n) | frac);
    },
  };
}

export const hex = (b: bigint) => "0x" + (b & MASK64).toString(16).padStart(16, "0");
export { bitsOf, f64 };
