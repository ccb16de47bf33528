/**
 * Gas of canonical binary64 arithmetic on-chain (docs/CANONICAL-NUMBERS.md, "Gas"): for every
 * Float64.sol operation and every CanonicalMath.sol transcendental, the median gas of the library
 * call alone (CanonicalHarness.gasFloat/gasMath: gasleft() around one internal call, minus the same
 * measurement of an identity function, the call's own overhead) over seeded inputs of the kind models
 * meet (random normals of moderate magnitude; each function over its working range). Also min and max.
 * Then CanonicalStep.sol (docs/CANONICAL.md, "Partial states and the on-chain step"): one fold of a
 * partial-state record (sum, max), a finalize, and every float map op (StepHarness: gasleft() around
 * the library call, operands already decoded in memory; no overhead subtracted).
 *
 *   npm run bench:canonical-gas
 */
import { network } from "hardhat";
import { bitsOf, f64, MAP_OPS, type Step, canonicalBits, encodePartial, mapOpCode, mapParamsOf } from "../canonical/index.js";
import { seededRandom } from "../protocol/index.js";
import { Fn, Op, pack, type Vec } from "../test/canonical/harness.js";

const N = 101;
const next = seededRandom(2026);
const u = (lo: number, hi: number) => lo + (hi - lo) * next();
/** A random normal with exponent in [-8, 8] and a random sign. */
const normal = () => f64((next() < 0.5 ? 0n : 1n << 63n) | (BigInt(1015 + Math.floor(next() * 17)) << 52n) | BigInt(Math.floor(next() * 2 ** 52)));
const b = (x: number) => bitsOf(x);

function stats(gas: bigint[], overhead: number) {
  const s = gas.map((g) => Number(g) - overhead).sort((x, y) => x - y);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

const FLOAT: [string, number, () => [bigint, bigint]][] = [
  ["add", Op.Add, () => [b(normal()), b(normal())]],
  ["sub", Op.Sub, () => [b(normal()), b(normal())]],
  ["mul", Op.Mul, () => [b(normal()), b(normal())]],
  ["div", Op.Div, () => [b(normal()), b(normal())]],
  ["sqrt", Op.Sqrt, () => [b(Math.abs(normal())), 0n]],
  ["eq", Op.Eq, () => [b(normal()), b(normal())]],
  ["lt", Op.Lt, () => [b(normal()), b(normal())]],
  ["le", Op.Le, () => [b(normal()), b(normal())]],
  ["neg", Op.Neg, () => [b(normal()), 0n]],
  ["abs", Op.Abs, () => [b(normal()), 0n]],
  ["floor", Op.Floor, () => [b(normal()), 0n]],
  ["trunc", Op.Trunc, () => [b(normal()), 0n]],
  ["ldexp (k in ±60)", Op.Ldexp, () => [b(normal()), BigInt.asUintN(64, BigInt(Math.floor(u(-60, 60))))]],
  ["fromInt64", Op.FromInt64, () => [BigInt.asUintN(64, BigInt(Math.floor(u(-1e15, 1e15)))), 0n]],
  ["toInt64", Op.ToInt64, () => [b(normal() * 1e6), 0n]],
  ["roundFp32", Op.RoundFp32, () => [b(normal()), 0n]],
  ["roundFp16", Op.RoundFp16, () => [b(normal()), 0n]],
  ["roundBf16", Op.RoundBf16, () => [b(normal()), 0n]],
  ["roundTf32", Op.RoundTf32, () => [b(normal()), 0n]],
  ["toFp32 (bits)", Op.ToFp32, () => [b(normal()), 0n]],
  ["toFp16 (bits)", Op.ToFp16, () => [b(normal()), 0n]],
  ["toBf16 (bits)", Op.ToBf16, () => [b(normal()), 0n]],
  ["toTf32 (bits)", Op.ToTf32, () => [b(normal()), 0n]],
  ["fromFp32", Op.FromFp32, () => [BigInt(Math.floor(u(0x30000000, 0x50000000))), 0n]],
  ["fromFp16", Op.FromFp16, () => [BigInt(Math.floor(u(0x1000, 0x7000))), 0n]],
  ["fromBf16", Op.FromBf16, () => [BigInt(Math.floor(u(0x3000, 0x5000))), 0n]],
];

const MATH: [string, number, () => [bigint, bigint]][] = [
  ["cexp (x in [-20, 20])", Fn.cexp, () => [b(u(-20, 20)), 0n]],
  ["cexpm1 (x in [-1, 1])", Fn.cexpm1, () => [b(u(-1, 1)), 0n]],
  ["clog (x in [1e-3, 1e3])", Fn.clog, () => [b(Math.exp(u(-6.9, 6.9))), 0n]],
  ["csigmoid (x in [-10, 10])", Fn.csigmoid, () => [b(u(-10, 10)), 0n]],
  ["ctanh (x in [-5, 5])", Fn.ctanh, () => [b(u(-5, 5)), 0n]],
  ["cerf (x in [-4, 4])", Fn.cerf, () => [b(u(-4, 4)), 0n]],
  ["cpow (x in [0.1, 10], y in [-3, 3])", Fn.cpow, () => [b(u(0.1, 10)), b(u(-3, 3))]],
];

async function main() {
  const conn = await network.create();
  const harness: any = await conn.ethers.deployContract("CanonicalHarness");
  const run = async (method: "gasFloat" | "gasMath", op: number, gen: () => [bigint, bigint]) => {
    const vecs: Vec[] = Array.from({ length: N }, () => {
      const [a, bb] = gen();
      return { op, a, b: bb };
    });
    const gas: bigint[] = [];
    for (let i = 0; i < vecs.length; i += 25) gas.push(...(await harness[method].staticCall(pack(vecs.slice(i, i + 25)), { gasLimit: 16_000_000n })));
    return gas;
  };
  const floatOverhead = stats(await run("gasFloat", Op.Nop, () => [1n, 2n]), 0).median;
  const mathOverhead = stats(await run("gasMath", Fn.nop, () => [1n, 2n]), 0).median;
  const rows: string[] = [];
  for (const [name, op, gen] of FLOAT) {
    const s = stats(await run("gasFloat", op, gen), floatOverhead);
    rows.push(`| Float64.${name} | ${s.median} | ${s.min} | ${s.max} |`);
  }
  for (const [name, op, gen] of MATH) {
    const s = stats(await run("gasMath", op, gen), mathOverhead);
    rows.push(`| CanonicalMath.${name} | ${s.median} | ${s.min} | ${s.max} |`);
  }
  rows.push(...(await stepRows(conn)));
  console.log(`Canonical binary64 gas per operation (${N} seeded inputs each; internal library call, call overhead of ${floatOverhead} gas subtracted)\n`);
  console.log("| operation | median gas | min | max |\n|---|---:|---:|---:|");
  console.log(rows.join("\n"));
  await conn.close?.();
}

const STEP_ARITY: Record<string, number> = {
  add: 2, sub: 2, mul: 2, div: 2, max: 2, min: 2, pow: 2, bn_scale: 2, exp_sub: 2, bn_apply: 4, ln_apply: 4,
  dequantize: 3, qscale: 3, dql_scale: 2, where: 3, equal: 2, less: 2, greater: 2, less_equal: 2, greater_equal: 2, and: 2, or: 2, xor: 2, prelu: 2, fill: 0,
};
/** Map ops with an integer output (CanonicalStep.quantElement, not mapElement): not in this table. */
const QUANT_OUT = new Set(["quantize", "requantize"]);
const STEP_PARAMS: Record<string, Record<string, number[]>> = {
  clip: { min: [0], max: [6] }, hardsigmoid: { alpha: [0.2], beta: [0.5] }, leakyrelu: { alpha: [0.01] }, fill: { value: [-2.5] }, bn_scale: { epsilon: [1e-5] }, ln_apply: { epsilon: [1e-5] }, scale: { k: [1.702] },
};
/** Operands in [-4, 4] (fp32), made positive where the op takes a logarithm or a square root of them. */
const POSITIVE: Record<string, number[]> = { log: [0], sqrt: [0], pow: [0], bn_scale: [1], ln_apply: [1] };

async function stepRows(conn: any): Promise<string[]> {
  const h: any = await conn.ethers.deployContract("StepHarness");
  const rows: string[] = [];
  const median = (gas: bigint[]) => stats(gas, 0);
  const foldGas = async (kind: "sum" | "max") => {
    const recs = Array.from({ length: N }, (_, t) => "0x" + Buffer.from(encodePartial({ kind, count: 1, t, acc: normal() })).toString("hex"));
    const terms = Array.from({ length: N }, () => canonicalBits(normal()));
    return median(await h.gasFold.staticCall(recs, terms));
  };
  for (const kind of ["sum", "max"] as const) {
    const s = await foldGas(kind);
    rows.push(`| CanonicalStep.fold (${kind}) | ${s.median} | ${s.min} | ${s.max} |`);
  }
  const finals = Array.from({ length: N }, (_, t) => "0x" + Buffer.from(encodePartial({ kind: "sum", count: 1 + (t % 9), t: 100, acc: normal() })).toString("hex"));
  for (const [name, p] of [["fp32", 0], ["fp16", 2], ["bf16", 3]] as const) {
    const s = median(await h.gasFinalize.staticCall(finals, finals.map(() => p)));
    rows.push(`| CanonicalStep.finalize (${name}, divisor 1..9) | ${s.median} | ${s.min} | ${s.max} |`);
  }
  for (const op of MAP_OPS.filter((o) => !QUANT_OUT.has(o))) {
    const arity = STEP_ARITY[op] ?? 1;
    const step = { op, params: STEP_PARAMS[op] ?? {} } as unknown as Step;
    const params = mapParamsOf(step);
    const parts = Array.from({ length: N }, () => {
      const operands = Array.from({ length: arity }, (_, k) => Math.fround((POSITIVE[op]?.includes(k) ? Math.abs : (x: number) => x)(u(-4, 4))));
      const buf = Buffer.alloc(4 + 8 * (arity + params.length));
      buf.writeUInt8(mapOpCode(op), 0);
      buf.writeUInt8(0, 1);
      buf.writeUInt8(arity, 2);
      buf.writeUInt8(params.length, 3);
      [...operands, ...params].forEach((x, k) => buf.writeBigUInt64BE(canonicalBits(x), 4 + 8 * k));
      return buf;
    });
    const gas: bigint[] = [];
    for (let i = 0; i < N; i += 20) {
      const [g, count] = await h.gasMap.staticCall("0x" + Buffer.concat(parts.slice(i, i + 20)).toString("hex"), { gasLimit: 16_000_000n });
      gas.push(...(g as bigint[]).slice(0, Number(count)));
    }
    const s = median(gas);
    rows.push(`| CanonicalStep.mapElement ${op}${op === "ln_apply" ? " (with bias)" : ""} (operands in [-4, 4], fp32) | ${s.median} | ${s.min} | ${s.max} |`);
  }
  return rows;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
